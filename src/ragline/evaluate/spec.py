"""The evaluation spec: what ``ragline eval run SPEC`` evaluates, read from YAML, TOML or JSON.

A spec names a dataset (JSONL, one item per line), the system under test and the metrics::

    name: sample-hybrid
    dataset: questions.jsonl          # relative to the spec file
    id_field: id                      # item id (default "id"; else the line number)
    input_field: question             # what is asked
    slices: [topic]                   # report metrics per value of these fields
    system:
      name: hybrid-k5                 # label in comparisons and rankings
      retrieval: {collection: sample, mode: hybrid, k: 5}
      answer: {model: embedded, prompt: eval_answer@v1, max_tokens: 128}
      # or ragline's own grounded flow (rewrite, gate, packing, checked citations, declines):
      # answer: {flow: grounded, model: embedded, settings: {min_relevance: 0.4}}
      # or, instead of answer:  output_field: prediction      (precomputed outputs)
      # or, instead of retrieval: retrieved_field: ranking   (precomputed doc ids)
    metrics:
      - {type: retrieval, measures: [ndcg@5, recall@5, mrr], relevant_field: relevant}
      - {type: answer, measures: [exact_match, f1, rougeL], reference_field: answer}
      - {type: judge, mode: reference, model: embedded, repeats: 1, human_field: human}
      - {type: pairwise, against: [baseline_answer]}
      - {type: ifeval}
      - {type: rag, measures: [context_precision, context_recall, faithfulness]}
      - {type: perplexity, measures: [perplexity, bits_per_byte]}
      - {type: code, tests_field: test, entry_point_field: entry_point}   # pass@1; needs
        # --allow-code-execution (runs the programs: docs/evaluation.md, Code execution)

Field names may be dotted paths into nested objects (``metadata.topic``); a slice field is
also looked up under ``metadata``.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ragline.config import AnswerSettings
from ragline.errors import ConfigError, MalformedInputError, MissingDependencyError
from ragline.types import SearchMode

_MEASURE = re.compile(r"^(ndcg|recall|hit|mrr|precision)@([1-9][0-9]*)$|^mrr$")
AnswerMeasure = Literal[
    "exact_match",
    "squad_em",
    "f1",
    "contains",
    "bleu",
    "rouge1",
    "rouge2",
    "rougeL",
    "semantic_similarity",
]
RagMeasure = Literal["context_precision", "context_recall", "faithfulness", "answer_relevance"]
PerplexityMeasure = Literal["perplexity", "bits_per_byte"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- system


class RetrievalSystem(_Model):
    """Search a collection with each item's question."""

    collection: str
    #: None: ``retrieval.default_mode`` / ``retrieval.default_k`` of the run's settings
    mode: SearchMode | None = None
    k: int | None = Field(None, gt=0)
    #: the item field searched (default: the spec's ``input_field``)
    query_field: str | None = None
    #: passages handed to the answer prompt (the best ``context_k`` chunks)
    context_k: int = Field(3, gt=0)


AnswerFlow = Literal["prompt", "grounded"]


class AnswerSystem(_Model):
    """How each item is answered: ``flow`` picks one of two systems under test.

    * ``prompt`` (the default) — one gateway call with an evaluation prompt
      (``eval_answer@v1`` with the retrieved passages as context, ``eval_answer_closed@v1``
      without retrieval). It measures a model and a prompt on their own, needs no collection,
      and is what specs meant before ``flow`` existed.
    * ``grounded`` — ragline's own answer flow (what ``Ragline.ask`` and ``ragline ask``
      run): query rewriting, hybrid retrieval, the relevance gate, context packing,
      sentence-level citation checks and declines, over ``collection`` (default: the
      collection of ``system.retrieval``). It reads the ``[answer]`` settings, changed by
      ``settings`` (and by ``temperature`` / ``max_tokens`` when they are given here).
    """

    flow: AnswerFlow = "prompt"
    model: str | None = None
    #: an evaluation prompt (``prompt`` flow only; the grounded flow's is ``settings.prompt``)
    prompt: str | None = None
    #: None: ``eval.answer_temperature`` / ``eval.answer_max_tokens`` (prompt flow) or the
    #: ``[answer]`` settings (grounded flow)
    temperature: float | None = Field(None, ge=0, le=5)
    max_tokens: int | None = Field(None, gt=0)
    #: the collection the grounded flow answers from (default: ``system.retrieval``'s)
    collection: str | None = None
    #: ``[answer]`` settings changed for the grounded flow (``min_relevance: 0.3`` ...)
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _options_fit_the_flow(self) -> AnswerSystem:
        if self.flow == "prompt":
            extra = [n for n in ("collection", "settings") if getattr(self, n)]
            if extra:
                raise ValueError(f"{' and '.join(extra)} apply only with flow: grounded")
            return self
        if self.prompt is not None:
            raise ValueError(
                "the grounded flow uses the answer flow's own prompt: set it with "
                "settings: {prompt: answer@v2} instead of prompt"
            )
        unknown = sorted(set(self.settings) - set(AnswerSettings.model_fields))
        if unknown:
            raise ValueError(
                f"unknown answer setting(s) {unknown}: use names of the [answer] settings"
            )
        twice = sorted({"temperature", "max_tokens"} & self.model_fields_set & set(self.settings))
        if twice:
            raise ValueError(f"{twice} given both here and under settings: give each once")
        try:
            AnswerSettings.model_validate(self.answer_overrides())
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ValueError(f"bad answer settings: {problems}") from None
        return self

    def answer_overrides(self) -> dict[str, Any]:
        """The ``[answer]`` settings the grounded flow changes: ``settings``, plus
        ``temperature`` and ``max_tokens`` where the spec gives them."""
        given = {n: getattr(self, n) for n in ("temperature", "max_tokens")}
        return {
            **{n: v for n, v in given.items() if v is not None},
            **self.settings,
        }


class SystemSpec(_Model):
    """The system under test: retrieval and/or answering, or precomputed outputs."""

    name: str | None = None
    retrieval: RetrievalSystem | None = None
    answer: AnswerSystem | None = None
    #: precomputed outputs: the item field holding the system's answer
    output_field: str | None = None
    #: precomputed retrieval: the item field holding ranked document ids
    retrieved_field: str | None = None

    @model_validator(mode="after")
    def _one_source_each(self) -> SystemSpec:
        if self.answer is not None and self.output_field is not None:
            raise ValueError("give either answer or output_field, not both")
        if self.retrieval is not None and self.retrieved_field is not None:
            raise ValueError("give either retrieval or retrieved_field, not both")
        if self.grounded and self.grounded_collection is None:
            raise ValueError(
                "the grounded flow needs a collection: system.answer.collection, "
                "or system.retrieval"
            )
        return self

    @property
    def grounded(self) -> bool:
        """Whether items are answered by ragline's grounded answer flow."""
        return self.answer is not None and self.answer.flow == "grounded"

    @property
    def grounded_collection(self) -> str | None:
        if self.answer is None:
            return None
        if self.answer.collection is not None:
            return self.answer.collection
        return self.retrieval.collection if self.retrieval is not None else None

    @property
    def has_output(self) -> bool:
        return self.answer is not None or self.output_field is not None

    @property
    def has_retrieval(self) -> bool:
        """Ranked documents for retrieval metrics: a search, a field, or (grounded flow
        without either) the documents of the passages the answer was given."""
        return self.retrieval is not None or self.retrieved_field is not None or self.grounded


# --------------------------------------------------------------------------- metrics


class RetrievalMetric(_Model):
    """Ranked-retrieval measures against the item's relevant documents.

    ``relevant_field`` holds a list of document ids (relevance 1) or ``{doc_id: grade}``.
    A document id matches a retrieved one exactly or as a path suffix (``guide.md``).
    """

    type: Literal["retrieval"]
    measures: tuple[str, ...] = ("ndcg@10", "recall@10", "mrr")
    relevant_field: str = "relevant"

    @model_validator(mode="after")
    def _known_measures(self) -> RetrievalMetric:
        bad = [m for m in self.measures if not _MEASURE.match(m)]
        if bad or not self.measures:
            raise ValueError(
                f"unknown retrieval measure(s) {bad}: use ndcg@k, recall@k, precision@k, "
                "hit@k, mrr or mrr@k"
            )
        return self

    def names(self) -> list[str]:
        return list(self.measures)


class AnswerMetric(_Model):
    """Answer text against the item's reference answer(s) (a string or a list)."""

    type: Literal["answer"]
    measures: tuple[AnswerMeasure, ...] = ("exact_match", "f1")
    reference_field: str = "answer"

    def names(self) -> list[str]:
        return list(self.measures)


class IFEvalMetric(_Model):
    """IFEval verifiable instructions, strict and loose, prompt- and instruction-level."""

    type: Literal["ifeval"]
    instructions_field: str = "instruction_id_list"
    kwargs_field: str = "kwargs"

    def names(self) -> list[str]:
        return [
            "ifeval_prompt_strict",
            "ifeval_inst_strict",
            "ifeval_prompt_loose",
            "ifeval_inst_loose",
        ]


class RagMetric(_Model):
    """RAG metrics without a judge: context precision/recall, faithfulness, answer relevance.

    ``contexts_field`` holds the retrieved passages (strings, or objects with ``id`` and/or
    ``text``); without it the system's ranked document ids are the contexts (ids only: enough
    for context precision and recall, not for faithfulness). ``reference_contexts_field``
    holds the passages that answer the question (texts or ids). A passage matches a
    reference by id, else by token overlap (``min_overlap``) or, with ``use_embeddings``,
    MiniLM cosine (``min_cosine``).
    """

    type: Literal["rag"]
    measures: tuple[RagMeasure, ...] = (
        "context_precision",
        "context_recall",
        "faithfulness",
        "answer_relevance",
    )
    contexts_field: str = "contexts"
    reference_contexts_field: str = "reference_contexts"
    #: questions a model generated from the answer (Ragas' answer relevance), optional
    generated_questions_field: str | None = None
    min_overlap: float = Field(0.5, ge=0, le=1)
    min_cosine: float = Field(0.8, ge=-1, le=1)
    use_embeddings: bool = False

    @model_validator(mode="after")
    def _has_measures(self) -> RagMetric:
        if not self.measures:
            raise ValueError("rag needs at least one measure")
        return self

    @property
    def needs_output(self) -> bool:
        return bool({"faithfulness", "answer_relevance"} & set(self.measures))

    def names(self) -> list[str]:
        return list(self.measures)


class PerplexityMetric(_Model):
    """Perplexity and bits per byte of the output (or of ``text_field``) under a GGUF model
    (default: the embedded SmolLM2), in sliding windows of ``n_ctx`` tokens."""

    type: Literal["perplexity"]
    measures: tuple[PerplexityMeasure, ...] = ("perplexity", "bits_per_byte")
    #: score this item field instead of the system's output
    text_field: str | None = None
    model_path: str | None = None
    n_ctx: int = Field(512, ge=16)

    @property
    def needs_output(self) -> bool:
        return self.text_field is None

    def names(self) -> list[str]:
        return list(self.measures)


class CodeMetric(_Model):
    """Functional correctness (pass@1): the output, after ``prompt_field`` when set, runs
    with the item's tests in the sandbox of :mod:`ragline.evaluate.metrics.code`. The
    tests either define ``check(candidate)`` called on ``entry_point_field`` (HumanEval) or
    are plain asserts. Refused unless code execution is allowed (``--allow-code-execution``
    or ``eval.allow_code_execution``)."""

    type: Literal["code"]
    tests_field: str = "test"
    entry_point_field: str | None = "entry_point"
    #: item field with the function's signature and docstring that the output completes
    prompt_field: str | None = None
    #: per program (default: eval.code_timeout_s)
    timeout_s: float | None = Field(None, gt=0)

    def names(self) -> list[str]:
        return ["pass@1"]


class _JudgeOptions(_Model):
    name: str | None = None
    #: gateway model name (default: eval.judge_model, else gateway.default_model)
    model: str | None = None
    #: packaged prompt name or a file path (default: the mode's packaged prompt)
    prompt: str | None = None
    #: judge each item this many times: the report shows the judge's variance
    repeats: int = Field(1, ge=1, le=20)
    temperature: float | None = Field(None, ge=0, le=5)
    max_tokens: int | None = Field(None, gt=0)
    #: constrained decoding to the verdict's JSON schema where the model supports it
    constrained: bool = True
    #: item field with a human label: the report shows judge-human agreement
    human_field: str | None = None


class JudgeMetric(_JudgeOptions):
    """An LLM judge scoring each output 1–5: on a rubric, or against a reference answer."""

    type: Literal["judge"]
    mode: Literal["pointwise", "reference"] = "pointwise"
    reference_field: str = "answer"

    @property
    def metric_name(self) -> str:
        return self.name or f"judge_{self.mode}"

    def names(self) -> list[str]:
        return [self.metric_name]


class PairwiseMetric(_JudgeOptions):
    """An LLM judge comparing the output with other answers (item fields), both orders.

    The score is the system's mean outcome (win 1, tie ½, loss 0) over its pairs;
    ``all_pairs`` also judges the other answers against each other (for rankings).
    """

    type: Literal["pairwise"]
    against: tuple[str, ...]
    all_pairs: bool = False

    @model_validator(mode="after")
    def _has_opponents(self) -> PairwiseMetric:
        if not self.against:
            raise ValueError("pairwise needs at least one field in 'against'")
        return self

    @property
    def metric_name(self) -> str:
        return self.name or "pairwise"

    def names(self) -> list[str]:
        return [self.metric_name]


MetricSpec = Annotated[
    RetrievalMetric
    | AnswerMetric
    | IFEvalMetric
    | JudgeMetric
    | PairwiseMetric
    | RagMetric
    | PerplexityMetric
    | CodeMetric,
    Field(discriminator="type"),
]


# --------------------------------------------------------------------------- spec


class EvalSpec(_Model):
    """A whole evaluation. ``base_dir`` (the spec file's folder) resolves relative paths."""

    name: str = Field(min_length=1)
    description: str = ""
    dataset: Path
    id_field: str = "id"
    input_field: str = "question"
    slices: tuple[str, ...] = ()
    system: SystemSpec = SystemSpec()
    metrics: tuple[MetricSpec, ...] = Field(min_length=1)
    #: items evaluated at once (default: eval.concurrency)
    concurrency: int | None = Field(None, ge=1)
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> EvalSpec:
        names = [n for m in self.metrics for n in m.names()]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"metric names {dupes} appear twice: give the metrics a 'name'")
        for m in self.metrics:
            if isinstance(m, RetrievalMetric) and not self.system.has_retrieval:
                raise ValueError("retrieval metrics need system.retrieval or retrieved_field")
            needs_output = getattr(m, "needs_output", not isinstance(m, RetrievalMetric))
            if needs_output and not self.system.has_output:
                raise ValueError(
                    f"{m.type} metrics need outputs: system.answer or system.output_field"
                )
        return self

    @property
    def system_name(self) -> str:
        return self.system.name or self.name

    @property
    def dataset_path(self) -> Path:
        path = self.dataset.expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def metric_names(self) -> list[str]:
        return [n for m in self.metrics for n in m.names()]

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the spec {path}: {exc}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as exc:  # pragma: no cover - pyyaml comes with the hub client
                raise MissingDependencyError(
                    "YAML specs need PyYAML", hint="pip install pyyaml, or write TOML/JSON"
                ) from exc
            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(
                f"unknown spec format {path.suffix!r}", hint="use .yaml, .yml, .toml or .json"
            )
    except ConfigError:
        raise
    except MissingDependencyError:
        raise
    except Exception as exc:  # yaml.YAMLError, TOMLDecodeError, JSONDecodeError
        raise ConfigError(f"{path} is not valid {suffix.lstrip('.').upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the spec must be a mapping at the top level")
    return data


def parse_spec(
    data: dict[str, Any], base_dir: Path | None = None, source: str = "spec"
) -> EvalSpec:
    """Validate a spec mapping; problems become one :class:`ConfigError`."""
    try:
        return EvalSpec.model_validate({**data, "base_dir": base_dir or Path(".")})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(
            f"invalid evaluation spec {source}: {problems}",
            hint="see examples/eval/ for specs that work",
        ) from exc


def load_spec(path: str | Path) -> EvalSpec:
    """Read and validate a spec file (``.yaml``, ``.toml`` or ``.json``)."""
    p = Path(path).expanduser()
    return parse_spec(_read_mapping(p), p.resolve().parent, str(p))


# --------------------------------------------------------------------------- dataset


@dataclass(frozen=True, slots=True)
class EvalItem:
    """One dataset item: its id, its position in the file and its fields."""

    id: str
    ordinal: int
    data: dict[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        return get_field(self.data, name, default)


_MISSING = object()


def get_field(data: dict[str, Any], name: str, default: Any = None) -> Any:
    """``data[name]``, following dots into nested objects (``metadata.topic``)."""
    if name in data:
        return data[name]
    value: Any = data
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return default
        value = value[part]
    return value


def slice_value(data: dict[str, Any], name: str) -> Any:
    """The value of a slice field: the field itself, else the same name under ``metadata``."""
    value = get_field(data, name, _MISSING)
    if value is _MISSING:
        meta = data.get("metadata")
        value = meta.get(name, _MISSING) if isinstance(meta, dict) else _MISSING
    return None if value is _MISSING else value


def load_dataset(path: str | Path, id_field: str = "id") -> list[EvalItem]:
    """Items of a JSONL file (or a JSON array); ids from ``id_field``, else the line number."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedInputError(str(p), f"cannot read the dataset: {exc}") from exc
    records: list[tuple[int, Any]] = []
    if p.suffix.lower() == ".json":
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MalformedInputError(str(p), f"not JSON: {exc}") from exc
        if not isinstance(loaded, list):
            raise MalformedInputError(str(p), "a JSON dataset must be an array of objects")
        records = list(enumerate(loaded, 1))
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise MalformedInputError(f"{p}:{number}", f"not JSON: {exc}") from exc
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for number, record in records:
        if not isinstance(record, dict):
            raise MalformedInputError(f"{p}:{number}", "each item must be a JSON object")
        raw = get_field(record, id_field)
        item_id = str(raw) if raw is not None else str(number)
        if item_id in seen:
            raise MalformedInputError(
                f"{p}:{number}", f"duplicate id {item_id!r} (first on line {seen[item_id]})"
            )
        seen[item_id] = number
        items.append(EvalItem(id=item_id, ordinal=len(items), data=record))
    if not items:
        raise MalformedInputError(str(p), "the dataset has no items")
    return items


__all__ = [
    "AnswerFlow",
    "AnswerMeasure",
    "AnswerMetric",
    "AnswerSystem",
    "EvalItem",
    "EvalSpec",
    "IFEvalMetric",
    "JudgeMetric",
    "MetricSpec",
    "PairwiseMetric",
    "PerplexityMeasure",
    "PerplexityMetric",
    "RagMeasure",
    "RagMetric",
    "RetrievalMetric",
    "RetrievalSystem",
    "SystemSpec",
    "get_field",
    "load_dataset",
    "load_spec",
    "parse_spec",
    "slice_value",
]
