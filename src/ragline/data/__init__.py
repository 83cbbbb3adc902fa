"""Dataset engineering: dedup, quality filters, PII scrub, synthetic review, exports, data cards."""
