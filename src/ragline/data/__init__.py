"""Dataset engineering: deduplication, quality filters, PII scrub, synthetic data review, exports and data cards (issue 18)."""
