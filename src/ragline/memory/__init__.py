"""Memory: the short-term conversation window and long-term per-user facts (issue 17)."""
