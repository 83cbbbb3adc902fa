"""Per-item scorers: one for each metric type of a spec, wired to the metric functions.

Each scorer turns one evaluated item (:class:`ItemView`: the item, the system's output and
its ranked document ids) into values (``{metric name: float | None}``) and the details that
explain them. None means "not computable for this item" (no reference, an unparsed verdict);
such items are left out of that metric's mean and counted as missing.

* retrieval — nDCG@k, Recall@k, Precision@k, hit@k, MRR from ``evaluate.metrics.retrieval``;
* answer — exact match, SQuAD EM, token F1, contains, sentence BLEU (0–1), ROUGE-1/2/L F;
* answer also: semantic_similarity (MiniLM cosine of output and reference);
* rag — context precision / recall, faithfulness, answer relevance (``metrics.rag``); the
  contexts are the item's own, else a grounded answer's passages, else the ranked ids;
* perplexity — perplexity and bits per byte under a GGUF model (``metrics.perplexity``);
* ifeval — IFEval prompt- and instruction-level accuracy, strict and loose;
* judge / pairwise — :class:`ragline.evaluate.judge.Judge` verdicts.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ragline.errors import ConfigError
from ragline.evaluate.ifeval.evaluation import IFEvalExample, evaluate_response
from ragline.evaluate.judge import Judge
from ragline.evaluate.judge_stats import pair_score, rating_of
from ragline.evaluate.metrics.retrieval import (
    hit_at_k,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank,
)
from ragline.evaluate.metrics.text import exact_match as _exact_match
from ragline.evaluate.metrics.text import (
    normalize_answer,
    rouge,
    sentence_bleu,
    squad_exact_match,
    token_f1,
)
from ragline.evaluate.spec import (
    AnswerMetric,
    CodeMetric,
    EvalItem,
    EvalSpec,
    IFEvalMetric,
    JudgeMetric,
    MetricSpec,
    PairwiseMetric,
    PerplexityMetric,
    RagMetric,
    RetrievalMetric,
)
from ragline.prompts import PromptRegistry

if TYPE_CHECKING:
    from ragline.config import Settings

log = logging.getLogger(__name__)

Values = dict[str, float | None]


@dataclass(frozen=True, slots=True)
class ItemView:
    """What a scorer sees of one item."""

    item: EvalItem
    question: str
    output: str | None
    retrieved: Sequence[str]
    #: ``(document id, text)`` of the passages the system under test retrieved (live runs).
    passages: Sequence[tuple[str, str]] = ()
    #: ``(document id, text)`` of the passages a grounded answer was given, in order: the
    #: contexts that context precision / recall rank when the item names none of its own
    answer_passages: Sequence[tuple[str, str]] | None = None


class Scorer(Protocol):
    """Scores one item for one metric entry of the spec."""

    names: list[str]

    def score(self, view: ItemView) -> tuple[Values, dict[str, Any]]: ...


def _none(names: Sequence[str]) -> Values:
    return dict.fromkeys(names)


# --------------------------------------------------------------------------- retrieval


def relevance_of(value: Any) -> dict[str, int] | None:
    """Qrels of one item: a list of ids (grade 1), a ``{id: grade}`` mapping, or one id."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): int(v) for k, v in value.items()}
    if isinstance(value, str | int):
        return {str(value): 1}
    return {str(v): 1 for v in value}


def align_ranking(retrieved: Sequence[str], relevant: Mapping[str, int]) -> list[str]:
    """Retrieved ids renamed to the relevant id they match (exactly, or as a path suffix)."""
    out = []
    for doc in retrieved:
        if doc in relevant:
            out.append(doc)
            continue
        match = next((r for r in relevant if doc.endswith("/" + r) or doc.endswith("\\" + r)), None)
        out.append(match if match is not None else doc)
    return list(dict.fromkeys(out))


class RetrievalScorer:
    def __init__(self, metric: RetrievalMetric) -> None:
        self.metric = metric
        self.names = metric.names()

    def score(self, view: ItemView) -> tuple[Values, dict[str, Any]]:
        relevant = relevance_of(view.item.get(self.metric.relevant_field))
        if not relevant:
            return _none(self.names), {"retrieval": {"note": "no relevant documents"}}
        ranking = align_ranking(view.retrieved, relevant)
        values: Values = {}
        for name in self.names:
            measure, _, cutoff = name.partition("@")
            k = int(cutoff) if cutoff else None
            if measure == "ndcg":
                values[name] = ndcg_at_k(ranking, relevant, k or 10)
            elif measure == "recall":
                values[name] = recall_at_k(ranking, relevant, k or 10)
            elif measure == "hit":
                values[name] = hit_at_k(ranking, relevant, k or 10)
            elif measure == "precision":
                top = ranking[: k or 10]
                values[name] = sum(1 for d in top if relevant.get(d, 0) >= 1) / (k or 10)
            else:
                values[name] = reciprocal_rank(ranking, relevant, k)
        return values, {}


# --------------------------------------------------------------------------- answer text


def references_of(value: Any) -> list[str] | None:
    if value is None:
        return None
    refs = [value] if isinstance(value, str) else [str(v) for v in value]
    return refs or None


class AnswerScorer:
    def __init__(self, metric: AnswerMetric, settings: Settings | None = None) -> None:
        self.metric = metric
        self.names = metric.names()
        self.settings = settings  # the run's: its embedder scores semantic_similarity

    def score(self, view: ItemView) -> tuple[Values, dict[str, Any]]:
        refs = references_of(view.item.get(self.metric.reference_field))
        if refs is None or view.output is None:
            return _none(self.names), {}
        out = view.output
        values: Values = {}
        rouge_types = [m for m in self.names if m.startswith("rouge")]
        rouge_f = rouge([out], [refs], rouge_types=rouge_types).per_example if rouge_types else {}
        for name in self.names:
            if name == "exact_match":
                values[name] = _exact_match(out, refs)
            elif name == "squad_em":
                values[name] = squad_exact_match(out, refs)
            elif name == "f1":
                values[name] = token_f1(out, refs)
            elif name == "contains":
                norm = normalize_answer(out)
                values[name] = float(any(normalize_answer(r) in norm for r in refs if r.strip()))
            elif name == "bleu":
                values[name] = sentence_bleu(out, refs) / 100.0
            elif name == "semantic_similarity":
                from ragline.evaluate.metrics.semantic import (
                    default_embedder,
                    semantic_similarity,
                )

                emb = default_embedder(self.settings.embedder if self.settings else None)
                values[name] = semantic_similarity(out, refs, embedder=emb)
            else:
                values[name] = rouge_f[name][0]
        return values, {}


# --------------------------------------------------------------------------- RAG


def _contexts(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, str | Mapping):
        return [value]
    return list(value)


class RagScorer:
    """Context precision / recall, faithfulness and answer relevance of one item."""

    def __init__(self, metric: RagMetric, settings: Settings | None = None) -> None:
        self.metric = metric
        self.names = metric.names()
        self.settings = settings  # the run's: its embedder and [answer] support thresholds

    def score(self, view: ItemView) -> tuple[Values, dict[str, Any]]:
        from ragline.evaluate.metrics.rag import (
            RetrievedContext,
            answer_relevance,
            as_context,
            as_ids,
            context_scores,
            faithfulness,
        )
        from ragline.evaluate.metrics.semantic import default_embedder

        m = self.metric
        cfg = self.settings
        embedder = lambda: default_embedder(cfg.embedder if cfg else None)  # noqa: E731
        given = _contexts(view.item.get(m.contexts_field))
        if given is not None:
            contexts = [as_context(c) for c in given]
        elif view.answer_passages is not None:
            contexts = [RetrievedContext(id=doc, text=text) for doc, text in view.answer_passages]
        else:
            contexts = as_ids(view.retrieved)
        refs_raw = _contexts(view.item.get(m.reference_contexts_field))
        values: Values = _none(self.names)
        detail: dict[str, Any] = {}
        if refs_raw is not None and {"context_precision", "context_recall"} & set(self.names):
            refs = [as_context(r) for r in refs_raw]
            if contexts and all(not c.text for c in contexts):  # ids only: references are ids
                refs = [RetrievedContext(id=r.id or r.text) for r in refs]
            scores = context_scores(
                contexts,
                refs,
                embedder=embedder() if m.use_embeddings else None,
                min_overlap=m.min_overlap,
                min_cosine=m.min_cosine,
            )
            values["context_precision"] = scores.precision
            values["context_recall"] = scores.recall
            detail["contexts"] = {"relevant": list(scores.relevant), "found": list(scores.found)}
        texts = [c for c in contexts if c.text.strip()] or [
            RetrievedContext(id=doc, text=text) for doc, text in view.passages if text.strip()
        ]
        if "faithfulness" in self.names and view.output is not None and texts:
            result = faithfulness(
                view.output,
                texts,
                question=view.question,
                embedder=embedder(),
                settings=cfg.answer if cfg else None,
            )
            values["faithfulness"] = result.score
            detail["faithfulness"] = {
                "claims": len(result.claims),
                "unsupported": [c.text for c in result.unsupported],
            }
        if "answer_relevance" in self.names and view.output is not None and view.question:
            generated = None
            if m.generated_questions_field:
                generated = _contexts(view.item.get(m.generated_questions_field))
            values["answer_relevance"] = answer_relevance(
                view.question,
                view.output,
                embedder=embedder(),
                generated_questions=[str(q) for q in generated] if generated else None,
            )
        return {k: v for k, v in values.items() if k in self.names}, detail


# --------------------------------------------------------------------------- perplexity


class PerplexityMetricScorer:
    """Perplexity and bits per byte of the output (or an item field)."""

    def __init__(self, metric: PerplexityMetric) -> None:
        self.metric = metric
        self.names = metric.names()
        self._scorer: Any = None

    def score(self, view: ItemView) -> tuple[Values, dict[str, Any]]:
        m = self.metric
        text = view.output if m.text_field is None else view.item.get(m.text_field)
        if not isinstance(text, str) or not text.strip():
            return _none(self.names), {}
        if self._scorer is None:
            from ragline.evaluate.metrics.perplexity import get_perplexity_scorer

            self._scorer = get_perplexity_scorer(m.model_path, n_ctx=m.n_ctx)
        result = self._scorer.score(text)
        values: Values = {
            "perplexity": result.perplexity,
            "bits_per_byte": result.bits_per_byte,
        }
        detail = {"perplexity": {"tokens": result.tokens, "bytes": result.bytes}}
        return {k: values[k] for k in self.names}, detail


# --------------------------------------------------------------------------- code


class CodeScorer:
    """pass@1 of the output against the item's tests, in the code-execution sandbox.

    Refuses (:class:`ConfigError`, before the first item) unless the run's settings allow
    code execution. Each item's details say how the program ended and which sandbox
    barriers this machine could not put up."""

    def __init__(self, metric: CodeMetric, settings: Settings | None) -> None:
        from ragline.evaluate.metrics.code import require_code_execution

        cfg = settings.eval if settings is not None else None
        require_code_execution(cfg is not None and cfg.allow_code_execution)
        assert cfg is not None
        self.metric = metric
        self.names = metric.names()
        self._timeout = metric.timeout_s or cfg.code_timeout_s
        self._memory_mb = cfg.code_memory_mb
        self._warned = False

    def score(self, view: ItemView) -> tuple[Values, dict[str, Any]]:
        from ragline.evaluate.metrics.code import check_correctness

        m = self.metric
        tests = view.item.get(m.tests_field)
        if view.output is None or not isinstance(tests, str) or not tests.strip():
            return _none(self.names), {}
        entry = view.item.get(m.entry_point_field) if m.entry_point_field else None
        prompt = view.item.get(m.prompt_field) if m.prompt_field else None
        result = check_correctness(
            view.output,
            tests,
            entry_point=str(entry) if entry else None,
            prompt=str(prompt) if prompt else "",
            allow_code_execution=True,  # checked when the scorer was built
            timeout=self._timeout,
            memory_mb=self._memory_mb,
        )
        if result.missing and not self._warned:
            self._warned = True
            log.warning(
                "code execution: this machine did not allow %s (see docs/evaluation.md, Code "
                "execution); each item's details list it",
                "; ".join(result.missing),
            )
        detail = {
            "code": {
                "status": result.status,
                "seconds": round(result.seconds, 3),
                "stderr": result.stderr[-2000:],
                "sandbox_missing": list(result.missing),
            }
        }
        return {"pass@1": 1.0 if result.passed else 0.0}, detail


# --------------------------------------------------------------------------- IFEval


class IFEvalScorer:
    def __init__(self, metric: IFEvalMetric) -> None:
        self.metric = metric
        self.names = metric.names()

    def score(self, view: ItemView) -> tuple[Values, dict[str, Any]]:
        ids = view.item.get(self.metric.instructions_field)
        if not ids or view.output is None:
            return _none(self.names), {}
        kwargs = view.item.get(self.metric.kwargs_field) or [{} for _ in ids]
        example = IFEvalExample(
            key=view.item.id,
            prompt=view.question,
            instruction_ids=tuple(ids),
            kwargs=tuple({k: v for k, v in (kw or {}).items() if v is not None} for kw in kwargs),
        )
        try:
            outcome = evaluate_response(example, view.output)
        except ConfigError as exc:  # an unknown instruction or bad kwargs in this item
            return _none(self.names), {"ifeval": {"error": exc.message}}
        values: Values = {
            "ifeval_prompt_strict": float(outcome.strict_all),
            "ifeval_inst_strict": sum(outcome.strict) / len(outcome.strict),
            "ifeval_prompt_loose": float(outcome.loose_all),
            "ifeval_inst_loose": sum(outcome.loose) / len(outcome.loose),
        }
        detail = {
            "ifeval": {
                "instructions": list(outcome.instruction_ids),
                "strict": list(outcome.strict),
                "loose": list(outcome.loose),
            }
        }
        return values, detail


# --------------------------------------------------------------------------- judges


class JudgeScorer:
    """A 1–5 judge, pointwise or against the reference; ``repeats`` verdicts per item."""

    def __init__(self, metric: JudgeMetric, judge: Judge, model: str) -> None:
        self.metric = metric
        self.judge = judge
        self.model = model
        self.names = metric.names()

    def score(self, view: ItemView) -> tuple[Values, dict[str, Any]]:
        name = self.metric.metric_name
        reference = None
        if self.metric.mode == "reference":
            refs = references_of(view.item.get(self.metric.reference_field))
            if refs is None:
                return {name: None}, {name: {"note": "no reference answer"}}
            reference = refs[0]
        if view.output is None:
            return {name: None}, {}
        verdicts = [
            self.judge.rate(view.question, view.output, reference)
            for _ in range(self.metric.repeats)
        ]
        detail = {
            "kind": "rating",
            "model": self.model,
            "prompt": self.judge.prompt_version,
            "verdicts": [v.to_dict() for v in verdicts],
            "human": view.item.get(self.metric.human_field) if self.metric.human_field else None,
        }
        return {name: rating_of(detail)}, {name: detail}


class PairwiseScorer:
    """The output against other answers (item fields), each pair judged in both orders."""

    def __init__(self, metric: PairwiseMetric, judge: Judge, model: str, system: str) -> None:
        self.metric = metric
        self.judge = judge
        self.model = model
        self.system = system
        self.names = metric.names()

    def score(self, view: ItemView) -> tuple[Values, dict[str, Any]]:
        name = self.metric.metric_name
        if view.output is None:
            return {name: None}, {}
        candidates = [(self.system, view.output)]
        for field_name in self.metric.against:
            value = view.item.get(field_name)
            if isinstance(value, str):
                candidates.append((field_name, value))
        pairs = [(candidates[0], c) for c in candidates[1:]]
        if self.metric.all_pairs:
            pairs += [(a, b) for i, a in enumerate(candidates[1:], 1) for b in candidates[i + 1 :]]
        judged = [
            self.judge.compare(view.question, left, right, repeat=r).to_dict()
            for r in range(self.metric.repeats)
            for left, right in pairs
        ]
        detail = {
            "kind": "pairwise",
            "model": self.model,
            "prompt": self.judge.prompt_version,
            "pairs": judged,
            "human": view.item.get(self.metric.human_field) if self.metric.human_field else None,
        }
        return {name: pair_score(judged, self.system)}, {name: detail}


# --------------------------------------------------------------------------- building

DEFAULT_JUDGE_PROMPTS = {
    "pointwise": "judge_pointwise@v1",
    "reference": "judge_reference@v1",
    "pairwise": "judge_pairwise@v1",
}


@dataclass(frozen=True, slots=True)
class JudgeDefaults:
    model: str
    temperature: float
    max_tokens: int


def build_scorers(
    spec: EvalSpec,
    call_for: Callable[[str], Callable[..., Any]],
    defaults: JudgeDefaults,
    settings: Settings | None = None,
    *,
    registry: PromptRegistry,
) -> tuple[list[Scorer], dict[str, str], list[str]]:
    """Scorers for every metric of ``spec``, the judge prompts' stamps and judge models.

    ``call_for(model)`` returns the model-call function a judge uses for that model name;
    ``registry`` finds the judge prompts (the caller's, so that its prompts folder counts);
    ``settings`` (the run's) give the embedder and the answer-support thresholds.
    """
    scorers: list[Scorer] = []
    prompts: dict[str, str] = {}
    models: list[str] = []
    for metric in spec.metrics:
        scorers.append(
            _scorer(metric, spec, call_for, defaults, prompts, models, registry, settings)
        )
    return scorers, prompts, models


def _scorer(
    metric: MetricSpec,
    spec: EvalSpec,
    call_for: Callable[[str], Callable[..., Any]],
    defaults: JudgeDefaults,
    prompts: dict[str, str],
    models: list[str],
    registry: PromptRegistry,
    settings: Settings | None = None,
) -> Scorer:
    if isinstance(metric, RetrievalMetric):
        return RetrievalScorer(metric)
    if isinstance(metric, AnswerMetric):
        return AnswerScorer(metric, settings)
    if isinstance(metric, IFEvalMetric):
        return IFEvalScorer(metric)
    if isinstance(metric, RagMetric):
        return RagScorer(metric, settings)
    if isinstance(metric, PerplexityMetric):
        return PerplexityMetricScorer(metric)
    if isinstance(metric, CodeMetric):
        return CodeScorer(metric, settings)
    kind = metric.mode if isinstance(metric, JudgeMetric) else "pairwise"
    template = registry.get(metric.prompt or DEFAULT_JUDGE_PROMPTS[kind], base_dir=spec.base_dir)
    needed = {
        "pointwise": {"question", "answer"},
        "reference": {"question", "answer", "reference"},
    }
    expected = needed.get(kind, {"question", "answer_a", "answer_b"})
    if not expected <= template.variables:
        raise ConfigError(
            f"judge prompt {template.ref} lacks {sorted(expected - template.variables)}",
            hint="a pointwise prompt needs {{question}} and {{answer}} (and {{reference}} "
            "in reference mode); a pairwise one {{question}}, {{answer_a}} and {{answer_b}}",
        )
    model = metric.model or defaults.model
    temperature = defaults.temperature if metric.temperature is None else metric.temperature
    judge = Judge(
        call_for(model),
        template,
        temperature=temperature,
        max_tokens=metric.max_tokens or defaults.max_tokens,
        constrained=metric.constrained,
    )
    prompts[metric.metric_name] = template.stamp
    if model not in models:
        models.append(model)
    if isinstance(metric, JudgeMetric):
        return JudgeScorer(metric, judge, model)
    return PairwiseScorer(metric, judge, model, spec.system_name)


def finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def gateway_caller(gateway: Any, model: str) -> Callable[..., Any]:
    """``gateway.generate`` bound to one model name."""
    return functools.partial(gateway.generate, model=model)


__all__ = [
    "DEFAULT_JUDGE_PROMPTS",
    "AnswerScorer",
    "IFEvalScorer",
    "ItemView",
    "JudgeDefaults",
    "JudgeScorer",
    "PairwiseScorer",
    "PerplexityMetricScorer",
    "RagScorer",
    "RetrievalScorer",
    "Scorer",
    "align_ranking",
    "build_scorers",
    "finite_or_none",
    "gateway_caller",
    "references_of",
    "relevance_of",
]
