"""``ragline traces``: list recent traces, or show one as a tree; latency tables for stats."""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from ragline.cli.common import open_api, print_json
from ragline.errors import InvalidQueryError

if TYPE_CHECKING:
    from ragline.store.traces_base import SpanRecord, TraceRecord
    from ragline.trace.metrics import Distribution, LatencyReport

_SHOWN_ATTRS = 6  # attributes per span in the tree (all of them with --json)


def _when(start_ns: int) -> str:
    return dt.datetime.fromtimestamp(start_ns / 1e9).strftime("%m-%d %H:%M:%S")


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:,.1f} ms"


def _short(value: Any, width: int = 70) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _label(span: SpanRecord, start_ns: int) -> str:
    offset = (span.start_ns - start_ns) / 1e6
    status = "" if span.status == "ok" else f" [red]{span.status}[/]"
    head = f"[bold]{span.name}[/] {_ms(span.duration_s)} [dim]+{offset:,.1f} ms[/]{status}"
    attrs = [
        f"{k}={_short(v, 50)}"
        for k, v in span.attributes.items()
        if k not in ("hits", "input", "first_token_ns")
    ][:_SHOWN_ATTRS]
    if span.error:
        attrs.insert(0, f"[red]{_short(span.error)}[/]")
    return head + ("\n[dim]" + "  ".join(attrs) + "[/]" if attrs else "")


def render_tree(trace: TraceRecord) -> Tree:
    """A trace as a rich tree: each span with its duration, offset and attributes."""
    s = trace.summary
    tree = Tree(
        f"trace [cyan]{s.trace_id}[/]  {_when(s.start_ns)}  {_ms(s.duration_s)}  {s.status}",
        highlight=False,
    )

    def add(node: Tree, parent: str | None) -> None:
        for span in trace.children(parent):
            add(node.add(_label(span, s.start_ns), highlight=False), span.span_id)

    add(tree, None)
    if trace.signals:
        fb = tree.add("[bold]feedback[/]")
        for f in trace.signals:
            value = "" if f.value is None else f" {f.value:g}"
            comment = f"  {_short(f.comment)}" if f.comment else ""
            fb.add(f"{f.kind}{value} [dim]({f.source})[/]{comment}", highlight=False)
    return tree


def traces(
    trace_id: str | None = typer.Argument(None, help="Show this trace (an id or its prefix)."),
    since: str | None = typer.Option(None, "--since", help="Only after this: 1h, 7d, a date."),
    slow: bool = typer.Option(False, "--slow", help="Only traces slower than trace.slow_s."),
    name: list[str] = typer.Option([], "--name", help="Only these operations (search, ask…)."),
    limit: int = typer.Option(50, "--limit", "-n", help="How many traces to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List recent traces (newest first), or show one trace as a tree of spans.

    Examples:
      ragline traces --since 1h --slow
      ragline traces 3f2a9c
    """
    from ragline.store.traces_base import TraceQuery
    from ragline.trace.windows import parse_point

    with open_api() as rag:
        if trace_id:
            trace = rag.traces.get_trace(trace_id)
            if trace is None:
                raise InvalidQueryError(
                    f"no trace with id {trace_id!r}", hint="list traces with `ragline traces`"
                )
            if as_json:
                print_json(
                    {
                        "summary": trace.summary.to_dict(),
                        "spans": [_span(s) for s in trace.spans],
                        "feedback": [f.to_dict() for f in trace.signals],
                    }
                )
            else:
                Console().print(render_tree(trace))
            return
        query = TraceQuery(
            since_ns=parse_point(since) if since else None,
            names=tuple(name),
            min_duration_s=rag.settings.trace.slow_s if slow else None,
            limit=limit,
        )
        rows = rag.traces.list_traces(query)
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    if not rows:
        typer.echo("no traces yet: searches and answers are traced as they run")
        return
    table = Table("id", "when", "operation", "duration", "status", "query", "model", "tokens")
    for r in rows:
        tokens = "" if r.output_tokens is None else f"{r.input_tokens or 0}→{r.output_tokens}"
        table.add_row(
            r.trace_id[:12],
            _when(r.start_ns),
            r.name,
            _ms(r.duration_s),
            r.status,
            _short(r.query or "", 48),
            r.model or "",
            tokens,
        )
    Console(width=max(132, Console().width)).print(table)


def _span(s: SpanRecord) -> dict[str, Any]:
    return {f: getattr(s, f) for f in s.__dataclass_fields__}


def _percentiles(d: Distribution, scale: float = 1000.0) -> str:
    from ragline.trace.metrics import PERCENTILES

    values = [getattr(d, f"p{q}") for q in PERCENTILES]
    if values[0] is None:
        return "—"
    return " / ".join(f"{v * scale:,.1f}" for v in values)


def latency_table(report: LatencyReport) -> Table:
    from ragline.trace.metrics import PERCENTILES

    """``ragline stats --latency``: one row per operation and model."""
    q = "/".join(f"p{p}" for p in PERCENTILES)
    table = Table(
        "operation",
        "model",
        "requests",
        f"latency ms {q}",
        f"TTFT ms {q}",
        f"TPOT ms {q}",
        "tok/s p50",
        "cost $",
        "goodput",
        title="latency, tokens/s, cost and goodput",
        title_justify="left",
    )
    rows = [*report.rows, *([report.total] if report.total and len(report.rows) > 1 else [])]
    for row in rows:
        tps = row.metrics["tokens_per_s"].p50
        table.add_row(
            row.operation,
            row.model or "",
            str(row.requests),
            _percentiles(row.metrics["latency_s"]),
            _percentiles(row.metrics["ttft_s"]),
            _percentiles(row.metrics["tpot_s"]),
            "—" if tps is None else f"{tps:,.1f}",
            "—" if row.cost_usd is None else f"{row.cost_usd:.4f}",
            "—" if row.goodput is None else f"{row.goodput:.0%} of {row.slo_requests}",
        )
    return table


def print_latency(since: str | None, as_json: bool) -> None:
    """Latency percentiles, tokens/s, cost and goodput of the traces since ``since``."""
    from ragline.store.traces_base import TraceQuery
    from ragline.trace.metrics import latency_report
    from ragline.trace.windows import parse_point

    with open_api() as rag:
        cfg = rag.settings.trace
        since_ns = parse_point(since) if since else None
        rows = rag.traces.list_traces(TraceQuery(since_ns=since_ns, limit=None))
    report = latency_report(
        rows,
        slo_ttft_s=cfg.slo_ttft_s,
        slo_tpot_s=cfg.slo_tpot_s,
        since_ns=since_ns,
        until_ns=time.time_ns(),
    )
    if as_json:
        print_json(report.to_dict())
        return
    if not rows:
        typer.echo("no traces in this window")
        return
    Console(width=max(160, Console().width)).print(latency_table(report))
    typer.echo(
        f"SLO: TTFT <= {cfg.slo_ttft_s * 1000:g} ms and TPOT <= {cfg.slo_tpot_s * 1000:g} ms "
        "(settings trace.slo_ttft_s / trace.slo_tpot_s)"
    )


def register(app: typer.Typer) -> None:
    app.command("traces")(traces)
