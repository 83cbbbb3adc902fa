"""The router: intent routing before retrieval, and weak/strong model routing."""
