"""IFEval: the 25 verifiable-instruction checkers and strict/loose scoring.

See :mod:`ragline.evaluate.ifeval.checkers` for the instructions and
:mod:`ragline.evaluate.ifeval.evaluation` for how responses are scored.
"""

from ragline.evaluate.ifeval.checkers import CHECKERS, INSTRUCTION_IDS, check_instruction
from ragline.evaluate.ifeval.evaluation import (
    IFEvalExample,
    IFEvalOutcome,
    IFEvalReport,
    IFEvalScores,
    evaluate,
    evaluate_response,
    follows,
    load_examples,
    load_responses,
    loose_variants,
)

__all__ = [
    "CHECKERS",
    "INSTRUCTION_IDS",
    "IFEvalExample",
    "IFEvalOutcome",
    "IFEvalReport",
    "IFEvalScores",
    "check_instruction",
    "evaluate",
    "evaluate_response",
    "follows",
    "load_examples",
    "load_responses",
    "loose_variants",
]
