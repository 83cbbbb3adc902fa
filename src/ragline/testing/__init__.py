"""Reusable test suites and fakes: conformance suites every backend's tests inherit."""
