"""Exact and semantic answer caches (issue: caches and a model router)."""
