"""ragline: trustworthy talk-to-your-documents assistants, offline by default."""

__version__ = "0.1.0"
