"""User feedback on answers, linked to their traces.

``signals``: explicit thumbs / ratings / comments and implicit signals (regeneration, early
stop, correction, conversation length); ``correction``: the correction detector and its
labelled test set; ``export``: judged answers as a JSONL evaluation data set.
"""
