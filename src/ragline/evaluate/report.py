"""Run summaries and reports: a JSON file and a self-contained HTML page with SVG plots.

:func:`summarize` turns a run's item results into a :class:`RunSummary`: each metric's mean
with a bootstrap confidence interval, the items it could not score, per-slice means, the
judges' diagnostics (:mod:`ragline.evaluate.judge`) and token/cost totals.
:func:`write_run_report` writes ``report.json`` (run, summary and every item) and
``report.html``; :func:`write_compare_report` does the same for ``ragline eval compare``.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from ragline.evaluate import svg
from ragline.evaluate.compare import RunComparison, bootstrap_mean, metric_names, slice_key
from ragline.evaluate.grounded import decline_summary
from ragline.evaluate.judge_stats import pairwise_diagnostics, rating_diagnostics
from ragline.evaluate.metrics.registry import Direction, metric_direction
from ragline.evaluate.spec import slice_value
from ragline.store.evals_base import EvalRun, ItemResult
from ragline.trace.redact import redact_text


@dataclass(frozen=True, slots=True)
class MetricSummary:
    """One metric over a run: mean, its bootstrap interval, how many items had a value."""

    name: str
    mean: float
    low: float
    high: float
    n: int
    missing: int
    std: float
    #: which values are better (the metric registry): ``higher`` or ``lower``
    direction: Direction = "higher"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SliceRow:
    """Metric means over the items whose ``field`` equals ``value``."""

    field: str
    value: str
    n: int
    means: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Everything a report shows about a run, computed from its stored items."""

    items: int
    scored: int
    failed: int
    metrics: tuple[MetricSummary, ...]
    slices: tuple[SliceRow, ...] = ()
    judges: tuple[dict[str, Any], ...] = ()
    tokens: int = 0
    cost: float | None = None
    duration_s: float = 0.0
    errors: tuple[str, ...] = ()
    confidence: float = 0.95
    #: ``answers``: declines of grounded answers (count, rate, reasons), when the run has any
    extra: dict[str, Any] = field(default_factory=dict)

    def metric(self, name: str) -> MetricSummary:
        for m in self.metrics:
            if m.name == name:
                return m
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "scored": self.scored,
            "failed": self.failed,
            "confidence": self.confidence,
            "metrics": [m.to_dict() for m in self.metrics],
            "slices": [s.to_dict() for s in self.slices],
            "judges": list(self.judges),
            "tokens": self.tokens,
            "cost": self.cost,
            "duration_s": round(self.duration_s, 3),
            "errors": list(self.errors),
            **({"extra": self.extra} if self.extra else {}),
        }


def _usage(items: Sequence[ItemResult]) -> tuple[int, float | None]:
    tokens, cost, priced = 0, 0.0, True
    for it in items:
        answer = it.details.get("answer")
        records = [answer] if isinstance(answer, dict) else []
        for detail in it.details.values():
            if isinstance(detail, dict):
                records += detail.get("verdicts", [])
                for p in detail.get("pairs", []):
                    records += [p.get("first", {}), p.get("second", {})]
        for r in records:
            tokens += int(r.get("tokens") or 0)
            if r.get("tokens"):
                if r.get("cost") is None:
                    priced = False
                else:
                    cost += float(r["cost"])
    return tokens, (cost if priced and tokens else None)


def summarize(
    items: Sequence[ItemResult],
    *,
    slices: Sequence[str] = (),
    rounds: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> RunSummary:
    """Summarise a run's item results (failed items count as failed, not as zeros)."""
    ok = [it for it in items if it.ok]
    names = metric_names(ok)
    metrics = []
    for name in names:
        values = [it.scores[name] for it in ok if it.scores.get(name) is not None]
        ci = bootstrap_mean(values, rounds=rounds, confidence=confidence, seed=seed)  # type: ignore[arg-type]
        metrics.append(
            MetricSummary(
                name=name,
                mean=ci.mean,
                low=ci.low,
                high=ci.high,
                n=ci.n,
                missing=len(ok) - ci.n,
                std=statistics.pstdev(values) if len(values) >= 2 else 0.0,  # type: ignore[arg-type]
                direction=metric_direction(name),
            )
        )
    rows = []
    for field_name in slices:
        groups: dict[str, list[ItemResult]] = {}
        for it in ok:
            groups.setdefault(slice_key(slice_value(it.input, field_name)), []).append(it)
        for value in sorted(groups):
            group = groups[value]
            means: dict[str, float | None] = {}
            for name in names:
                vals = [it.scores[name] for it in group if it.scores.get(name) is not None]
                means[name] = sum(vals) / len(vals) if vals else None  # type: ignore[arg-type]
            rows.append(SliceRow(field_name, value, len(group), means))
    judges = []
    for name in names:
        details = [it.details.get(name) for it in ok]
        kinds = {d.get("kind") for d in details if isinstance(d, dict)}
        if "rating" in kinds:
            judges.append(rating_diagnostics(name, [d for d in details if d]).to_dict())
        elif "pairwise" in kinds:
            judges.append(pairwise_diagnostics(name, [d for d in details if d]).to_dict())
    tokens, cost = _usage(items)
    errors = list(dict.fromkeys(it.error for it in items if it.error))
    answers = decline_summary([it.details.get("answer") for it in ok])
    return RunSummary(
        items=len(items),
        scored=len(ok),
        failed=len(items) - len(ok),
        metrics=tuple(metrics),
        slices=tuple(rows),
        judges=tuple(judges),
        tokens=tokens,
        cost=cost,
        duration_s=sum(it.duration_s for it in items),
        errors=tuple(e for e in errors[:5] if e),
        confidence=confidence,
        extra={"answers": answers} if answers else {},
    )


def declines_text(summary: RunSummary) -> str | None:
    """``2 of 3 declined (no_relevant_passages 1, unsupported 1)`` for grounded runs."""
    answers = summary.extra.get("answers")
    if not answers:
        return None
    reasons = ", ".join(f"{k} {v}" for k, v in answers["reasons"].items())
    return f"{answers['declined']} of {answers['answers']} declined" + (
        f" ({reasons})" if reasons else ""
    )


# --------------------------------------------------------------------------- files


@dataclass(frozen=True, slots=True)
class ReportPaths:
    json: Path
    html: Path


def _write(path: Path, text: str) -> None:
    """Every report file is written here, through the one redaction function: a key or a
    configured secret in a question, an output or an error never reaches a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(redact_text(text), encoding="utf-8")
    tmp.replace(path)


def to_json_text(obj: Any) -> str:
    """Indented JSON with non-finite floats as null (JSON has no NaN)."""

    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(obj), ensure_ascii=False, indent=2, default=str)


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border-bottom:1px solid #ddd;
padding:.25rem .6rem;text-align:left;font-size:.9rem;vertical-align:top}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}.grid{display:flex;flex-wrap:wrap;gap:1rem}
code{background:#f4f4f4;padding:0 .2rem}.muted{color:#777}.out{max-width:420px;white-space:pre-wrap}
.improved{color:#17692b;font-weight:600}.regressed{color:#a31515;font-weight:600}
"""

#: Shown after a lower-is-better metric's name (perplexity, bits per byte).
LOWER_MARK = "↓"


def metric_label(name: str) -> str:
    """A metric's name for people: ``perplexity ↓`` when lower values are better."""
    return f"{name} {LOWER_MARK}" if metric_direction(name) == "lower" else name


def _lower_note(names: Sequence[str]) -> str:
    lower = [n for n in names if metric_direction(n) == "lower"]
    if not lower:
        return ""
    return (
        f"<p class='muted'>{LOWER_MARK} lower is better ({escape(', '.join(lower))}); "
        "every other metric: higher is better.</p>"
    )


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(title)}</h1>{body}</body></html>\n"
    )


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='num'>{c}</td>" if i >= numeric_from else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _scale_groups(metrics: Sequence[MetricSummary]) -> list[list[MetricSummary]]:
    unit = [m for m in metrics if m.n and m.low >= 0 and m.high <= 1]
    other = [m for m in metrics if m.n and m not in unit]
    return [g for g in (unit, other) if g]


def render_run_html(run: EvalRun, summary: RunSummary, items: Sequence[ItemResult]) -> str:
    """The run report page: setup, metric means with CIs, distributions, slices, judges."""
    pct = round(summary.confidence * 100)
    meta = [
        ("run", f"<code>{escape(run.run_id)}</code>"),
        ("name", escape(run.name)),
        ("status", escape(run.status)),
        ("created", escape(run.created_at)),
        ("dataset", escape(str(run.config.get("dataset", "")))),
        ("models", escape(", ".join(run.models) or "–")),
        ("prompts", escape(", ".join(f"{k}: {v}" for k, v in run.prompts.items()) or "–")),
        ("items", f"{summary.items} ({summary.scored} scored, {summary.failed} failed)"),
        ("tokens / cost", f"{summary.tokens} / {_f(summary.cost, 4)}"),
    ]
    if (declines := declines_text(summary)) is not None:
        meta.append(("grounded answers", escape(declines)))
    parts = [_table(["", ""], [[k, v] for k, v in meta], numeric_from=9)]
    parts.append("<h2>Metrics</h2>")
    parts.append(
        _table(
            ["metric", "better", "mean", f"{pct}% CI", "n", "missing", "std"],
            [
                [
                    escape(m.name),
                    "lower ↓" if m.direction == "lower" else "higher ↑",
                    _f(m.mean),
                    f"{_f(m.low)} – {_f(m.high)}",
                    str(m.n),
                    str(m.missing),
                    _f(m.std),
                ]
                for m in summary.metrics
            ],
            numeric_from=2,
        )
    )
    parts.append(_lower_note([m.name for m in summary.metrics]))
    for group in _scale_groups(summary.metrics):
        parts.append(
            svg.forest(
                [(metric_label(m.name), m.mean, m.low, m.high) for m in group],
                title=f"Means with {pct}% bootstrap intervals",
            )
        )
    parts.append("<h2>Per-item distributions</h2><div class='grid'>")
    ok = [it for it in items if it.ok]
    for m in summary.metrics:
        values = [it.scores[m.name] for it in ok if it.scores.get(m.name) is not None]
        parts.append(svg.histogram(values, title=metric_label(m.name)))  # type: ignore[arg-type]
    parts.append("</div>")
    if summary.slices:
        parts.append("<h2>Slices</h2>")
        names = [m.name for m in summary.metrics]
        for field_name in dict.fromkeys(s.field for s in summary.slices):
            rows = [s for s in summary.slices if s.field == field_name]
            parts.append(f"<h3>{escape(field_name)}</h3>")
            parts.append(
                _table(
                    [field_name, "n", *(metric_label(n) for n in names)],
                    [
                        [escape(r.value), str(r.n), *(_f(r.means.get(n)) for n in names)]
                        for r in rows
                    ],
                )
            )
            parts.append("<div class='grid'>")
            for m in summary.metrics[:6]:
                means = [r.means.get(m.name) for r in rows]
                shown = [math.nan if v is None else v for v in means]
                lo, hi = svg.nice_range([m.low, m.high, *shown])
                parts.append(
                    svg.bars(
                        [(r.value, v, r.n) for r, v in zip(rows, shown, strict=True)],
                        title=f"{metric_label(m.name)} by {field_name}",
                        lo=lo,
                        hi=hi,
                    )
                )
            parts.append("</div>")
    if summary.judges:
        parts.append("<h2>Judges</h2>")
        for j in summary.judges:
            rows = []
            for key, value in j.items():
                if key in ("name", "kind", "extra"):
                    continue
                if isinstance(value, dict):  # agreement, distribution: one row per entry
                    rows += [[escape(f"{key} · {k}"), _f(v)] for k, v in value.items()]
                else:
                    rows.append([escape(key), _f(value)])
            parts.append(f"<h3>{escape(j['name'])} ({escape(j['kind'])})</h3>")
            parts.append(_table(["", "value"], rows))
    if summary.errors:
        parts.append("<h2>Errors</h2><ul>")
        parts += [f"<li><code>{escape(e)}</code></li>" for e in summary.errors]
        parts.append("</ul>")
    parts.append("<h2>Items</h2>")
    names = [m.name for m in summary.metrics]
    parts.append(
        _table(
            ["id", "output", *(metric_label(n) for n in names), "error"],
            [
                [
                    escape(it.item_id),
                    f"<div class='out'>{escape((it.output or '')[:300])}</div>",
                    *(_f(it.scores.get(n)) for n in names),
                    escape(it.error or ""),
                ]
                for it in items[:500]
            ],
            numeric_from=2,
        )
    )
    if len(items) > 500:
        parts.append(f"<p class='muted'>first 500 of {len(items)} items; all in report.json</p>")
    return _page(f"Evaluation: {run.name}", "".join(parts))


def write_run_report(
    run: EvalRun, summary: RunSummary, items: Sequence[ItemResult], out_dir: Path
) -> ReportPaths:
    """``report.json`` (run, summary, every item) and ``report.html`` in ``out_dir``."""
    paths = ReportPaths(out_dir / "report.json", out_dir / "report.html")
    payload = {
        "run": {k: v for k, v in run.to_dict().items() if k != "summary"},
        "summary": summary.to_dict(),
        "items": [it.to_dict() for it in items],
    }
    _write(paths.json, to_json_text(payload))
    _write(paths.html, render_run_html(run, summary, items))
    return paths


def render_compare_html(cmp: RunComparison) -> str:
    """The comparison page: a forest plot of deltas overall and per slice, with tables."""
    pct = round(cmp.confidence * 100)
    head = (
        f"<p>B − A, paired bootstrap over items ({cmp.rounds} rounds, {pct}% intervals). "
        f"A = <code>{escape(cmp.run_a)}</code> ({escape(cmp.name_a)}), "
        f"B = <code>{escape(cmp.run_b)}</code> ({escape(cmp.name_b)}). "
        f"{cmp.common_items} common items; {cmp.only_a} only in A, {cmp.only_b} only in B.</p>"
    )
    parts = [head]

    parts.append(
        "<p class='muted'>Δ in bold: the interval excludes 0. <i>better</i>: the run whose "
        "value is better there, by the metric's direction.</p>"
    )
    parts.append(_lower_note(cmp.metrics))

    def better(d: Any) -> str:
        if d.better is None:
            return "–"
        return f"<span class='{d.change}'>{escape(d.winner_text)}</span>"

    def section(title: str, deltas: Sequence[Any], label: Any) -> None:
        parts.append(f"<h2>{escape(title)}</h2>")
        parts.append(
            _table(
                ["", "n", "A", "B", "Δ", f"{pct}% CI", "p", "better"],
                [
                    [
                        escape(label(d)),
                        str(d.n),
                        _f(d.mean_a),
                        _f(d.mean_b),
                        f"<b>{_f(d.delta)}</b>" if d.significant else _f(d.delta),
                        f"{_f(d.low)} – {_f(d.high)}",
                        _f(d.p_value),
                        better(d),
                    ]
                    for d in deltas
                ],
            )
        )
        parts.append(
            svg.forest(
                [(label(d), d.delta, d.low, d.high) for d in deltas],
                title=f"{title}: Δ with {pct}% CI",
                zero_line=True,
                lower_better=[d.direction == "lower" for d in deltas],
            )
        )

    section("Overall", cmp.overall(), lambda d: metric_label(d.metric))
    for field_name in cmp.slices:
        deltas = cmp.by_slice(field_name)
        if deltas:
            section(
                f"By {field_name}", deltas, lambda d: f"{d.slice_value} · {metric_label(d.metric)}"
            )
    return _page(f"Comparison: {cmp.name_a} vs {cmp.name_b}", "".join(parts))


def write_compare_report(cmp: RunComparison, out_dir: Path) -> ReportPaths:
    paths = ReportPaths(out_dir / "compare.json", out_dir / "compare.html")
    _write(paths.json, to_json_text(cmp.to_dict()))
    _write(paths.html, render_compare_html(cmp))
    return paths


def write_json(path: Path, payload: Any) -> Path:
    _write(path, to_json_text(payload))
    return path


__all__ = [
    "MetricSummary",
    "ReportPaths",
    "RunSummary",
    "SliceRow",
    "declines_text",
    "metric_label",
    "render_compare_html",
    "render_run_html",
    "summarize",
    "to_json_text",
    "write_compare_report",
    "write_json",
    "write_run_report",
]
