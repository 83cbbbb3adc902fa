"""Dataset engineering: turn documents, traces, feedback and synthetic QA into training data.

One module per step, each usable on its own and through ``ragline data …``
(``ragline/cli/data.py``); every step reads JSONL leniently (:mod:`.records`: a bad line is
reported, never fatal) and writes a data card beside its output (:mod:`.card`).

==============  ==========================================================================
module          step
==============  ==========================================================================
``records``     reading JSONL data sets, the text and id of a record, writing them back
``card``        data cards: source, steps with parameters and counts, sha256 of files
``dedup``       exact and near-duplicate clusters (MinHash + LSH, ``rensa``)
``semantic``    semantic duplicates by embedding (QA pairs)
``planted``     planted near-duplicate sets to choose and check the dedup defaults
``filters``     quality filters: encoding, length, language, repetition, boilerplate, judge
``scrub``       PII redaction (or dropping) with the guard's PII detector
``synth``       synthetic QA review loop: answerability, judge, dedup, accept/reject
``review``      review files: the one decision path (CLI and web UI), locked and atomic;
                the folder ``/api/review`` serves (``server.review_dir``)
``export``      chat, preference and embedding-pair exports, split by document,
                contamination check
==============  ==========================================================================

See docs/data.md.
"""
