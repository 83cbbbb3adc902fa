"""``ragline data``: dataset engineering — dedup, filter, scrub, synth, review, export, plant.

Each command reads a JSONL file (a malformed line is reported and skipped, never fatal; an
empty file or one without a valid record stops at once, before any long work), prints its
counts in and out, and writes a data card (``OUT.card.json`` + ``OUT.card.md``) beside its
output. docs/data.md has the examples.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from ragline.cli.common import CollectionOpt, print_json

if TYPE_CHECKING:
    from ragline.config import Settings
    from ragline.data.card import DataCard
    from ragline.data.records import RecordFile

data_app = typer.Typer(
    help="Dataset engineering: deduplicate, filter, scrub PII, review synthetic QA and export "
    "training data (chat, preference, embedding pairs), each with a data card.",
    no_args_is_help=True,
)
err = Console(stderr=True)

OutputOpt = typer.Option(..., "--output", "-o", help="JSONL file to write.")
FieldOpt = typer.Option(
    None,
    "--field",
    help="The text field (a dotted path works). Default: text, messages, question+answer, "
    "prompt+chosen, query+positive or content, the first one a line has.",
)
DataJsonOpt = typer.Option(False, "--json", help="Print the summary as JSON.")


def _settings() -> Settings:
    from ragline.config import load_settings

    return load_settings()


def _read(path: Path, text_field: str | None, *, require_text: bool = True) -> RecordFile:
    from ragline.data.records import read_records

    data = read_records(path, text_field=text_field, require_text=require_text)
    for bad in data.bad[:10]:
        err.print(f"[yellow]skipped[/] {path}:{bad.line}: {bad.reason}", highlight=False)
    if len(data.bad) > 10:
        err.print(f"[yellow]skipped[/] {len(data.bad) - 10} more malformed lines (see the card)")
    return data


@contextmanager
def _bar(label: str, total: int) -> Iterator[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n=1: progress.advance(task, n)


def _finish(
    card: DataCard,
    output: Path,
    records: list[dict[str, Any]],
    summary: dict[str, Any],
    as_json: bool,
) -> None:
    from ragline.data.card import FileRef, write_card
    from ragline.data.records import write_jsonl

    n, digest = write_jsonl(output, records)
    card.outputs.append(FileRef(str(output), digest, n))
    json_card, _ = write_card(card, output)
    summary = {**summary, "output": str(output), "card": str(json_card)}
    if as_json:
        print_json(summary)
    else:
        typer.echo(f"{summary['in']} in -> {summary['out']} out ({output}); card: {json_card}")


# --------------------------------------------------------------------------- dedup


@data_app.command("dedup")
def dedup_cmd(
    input_path: Path = typer.Argument(..., metavar="IN.jsonl", help="JSONL data set."),
    output: Path = OutputOpt,
    threshold: float | None = typer.Option(
        None, "--threshold", help="MinHash Jaccard for near duplicates (data.dedup_threshold)."
    ),
    text_field: str | None = FieldOpt,
    report: Path | None = typer.Option(
        None,
        "--report",
        help="JSONL: one line per cluster (kept id, removed ids, similarity, reason).",
    ),
    shingle: str | None = typer.Option(
        None, "--shingle", help="word or char (data.dedup_shingle)."
    ),
    ngram: int | None = typer.Option(None, "--ngram", help="Shingle size (data.dedup_ngram)."),
    exact_only: bool = typer.Option(False, "--exact-only", help="Only exact duplicates."),
    semantic: bool = typer.Option(
        False, "--semantic", help="Also semantic duplicates by embedding (QA pairs)."
    ),
    semantic_threshold: float | None = typer.Option(
        None, "--semantic-threshold", help="Cosine for --semantic (data.semantic_threshold)."
    ),
    engine: str = typer.Option("rensa", "--engine", help="rensa, or datasketch (the reference)."),
    as_json: bool = DataJsonOpt,
) -> None:
    """Keep one record per cluster of duplicates, unchanged; report the clusters.

    Examples:
      ragline data dedup corpus.jsonl -o corpus.dedup.jsonl --report clusters.jsonl
      ragline data dedup qa.jsonl -o qa.dedup.jsonl --semantic
    """
    from ragline.data.card import CardStep, start_card
    from ragline.data.dedup import find_duplicates
    from ragline.data.records import write_jsonl
    from ragline.errors import ConfigError

    if engine not in ("rensa", "datasketch"):
        raise ConfigError(f"--engine is rensa or datasketch, got {engine!r}")
    cfg = _settings().data
    kind = shingle or cfg.dedup_shingle
    if kind not in ("word", "char"):
        raise ConfigError(f"--shingle is word or char, got {kind!r}")
    data = _read(input_path, text_field)
    texts = [r.text for r in data.records]
    with err.status("deduplicating") as status:
        result = find_duplicates(
            texts,
            threshold=cfg.dedup_threshold if threshold is None else threshold,
            shingle=kind,  # type: ignore[arg-type]
            ngram=ngram or cfg.dedup_ngram,
            num_perm=cfg.dedup_num_perm,
            seed=cfg.dedup_seed,
            engine=engine,  # type: ignore[arg-type]
            near=not exact_only,
            progress=lambda msg: status.update(msg),
        )
    card = start_card(f"file {input_path}", data)
    counts = result.counts()
    card.steps.append(
        CardStep("dedup", result.params, len(texts), len(texts) - result.removed, counts)
    )
    clusters = list(result.clusters)
    keep = result.keep
    if semantic:
        from ragline.data.semantic import semantic_duplicates
        from ragline.models.embedder import get_embedder

        settings = _settings()
        sem_threshold = semantic_threshold or cfg.semantic_threshold
        with err.status("embedding for semantic duplicates"):
            sem = semantic_duplicates(
                texts, get_embedder(settings.embedder), threshold=sem_threshold, keep=keep
            )
        before = keep.count(True)
        keep = sem.keep
        clusters += sem.clusters
        card.steps.append(
            CardStep("semantic-dedup", sem.params, before, keep.count(True), sem.counts())
        )
    if report is not None:
        recs = data.records
        lines = []
        for c in sorted(clusters, key=lambda c: c.kept):
            lines.append(
                {
                    "kept": recs[c.kept].id,
                    "kept_line": recs[c.kept].line,
                    "removed": [recs[m.index].id for m in c.removed],
                    "similarity": [m.similarity for m in c.removed],
                    "reason": [m.reason for m in c.removed],
                    "preview": " ".join(recs[c.kept].text.split())[:160],
                }
            )
        write_jsonl(report, lines)
    kept_records = [r.data for r, k in zip(data.records, keep, strict=True) if k]
    summary = {
        "in": len(texts),
        "out": len(kept_records),
        "bad_lines": len(data.bad),
        "removed": {
            **counts,
            **({"semantic": len(texts) - len(kept_records) - result.removed} if semantic else {}),
        },
        "clusters": len(clusters),
    }
    _finish(card, output, kept_records, summary, as_json)


# --------------------------------------------------------------------------- filter


@data_app.command("filter")
def filter_cmd(
    input_path: Path = typer.Argument(..., metavar="IN.jsonl", help="JSONL data set."),
    output: Path = OutputOpt,
    text_field: str | None = FieldOpt,
    only: str | None = typer.Option(
        None,
        "--only",
        help="Comma-separated filters to run (encoding,length,language,repetition,boilerplate).",
    ),
    skip: str | None = typer.Option(None, "--skip", help="Comma-separated filters not to run."),
    judge: bool = typer.Option(
        False, "--judge", help="Also rate QA pairs with the AI judge (eval.judge_model)."
    ),
    report: Path | None = typer.Option(
        None, "--report", help="JSONL: one line per dropped record (id, filter, reason)."
    ),
    as_json: bool = DataJsonOpt,
) -> None:
    """Drop records that fail the quality filters; report what was dropped and why.

    Examples:
      ragline data filter corpus.jsonl -o corpus.clean.jsonl --report dropped.jsonl
      ragline data filter qa.jsonl -o qa.good.jsonl --judge
    """
    from ragline.data.card import CardStep, start_card
    from ragline.data.filters import FILTERS, filter_records
    from ragline.data.records import write_jsonl

    settings = _settings()
    names = [f for f in (only.split(",") if only else FILTERS) if f]
    names = [f for f in names if f not in set((skip or "").split(","))]
    data = _read(input_path, text_field)
    the_judge = _judge(settings) if judge else None
    if not judge:
        names = [f for f in names if f != "judge"]
    with _bar("filtering", len(data.records)) as tick:
        result = filter_records(
            data.records,
            settings.data,
            filters=[n.strip() for n in names],
            text_field=text_field,
            judge=the_judge,
            progress=tick,
        )
    card = start_card(f"file {input_path}", data)
    counts = {k: v for k, v in result.counts().items() if v}
    notes = {"repaired_encoding": result.repaired, "judged": result.judged}
    card.steps.append(
        CardStep("filter", result.params, len(data.records), len(result.kept), counts, notes)
    )
    if report is not None:
        write_jsonl(report, [d.to_dict() for d in result.dropped])
    summary = {
        "in": len(data.records),
        "out": len(result.kept),
        "bad_lines": len(data.bad),
        "dropped": counts,
        **notes,
    }
    _finish(card, output, [r.data for r in result.kept], summary, as_json)


def _judge(settings: Settings) -> Any:
    import functools

    from ragline.evaluate.judge import Judge
    from ragline.models.gateway import Gateway
    from ragline.prompts import PromptRegistry

    gateway = Gateway(settings)
    model = settings.eval.judge_model or settings.gateway.default_model
    template = PromptRegistry.from_settings(settings).get("judge_pointwise@v1")
    return Judge(
        functools.partial(gateway.generate, model=model),
        template,
        temperature=settings.eval.judge_temperature,
        max_tokens=settings.eval.judge_max_tokens,
    )


# --------------------------------------------------------------------------- scrub


@data_app.command("scrub")
def scrub_cmd(
    input_path: Path = typer.Argument(..., metavar="IN.jsonl", help="JSONL data set."),
    output: Path = OutputOpt,
    action: str | None = typer.Option(
        None, "--action", help="redact (placeholders) or drop (data.pii_action)."
    ),
    text_field: str | None = FieldOpt,
    report: Path | None = typer.Option(
        None, "--report", help="JSONL: one line per dropped record (id, entity types)."
    ),
    as_json: bool = DataJsonOpt,
) -> None:
    """Redact (or drop) personal data with the guard's PII detector; counts per entity type.

    Examples:
      ragline data scrub feedback.jsonl -o feedback.scrubbed.jsonl
      ragline data scrub chats.jsonl -o chats.clean.jsonl --action drop
    """
    from ragline.data.card import CardStep, start_card
    from ragline.data.records import write_jsonl
    from ragline.data.scrub import scrub_records
    from ragline.errors import ConfigError
    from ragline.guard.pii import PiiGuard

    settings = _settings()
    chosen = action or settings.data.pii_action
    if chosen not in ("redact", "drop"):
        raise ConfigError(f"--action is redact or drop, got {chosen!r}")
    data = _read(input_path, text_field)
    guard = PiiGuard(settings)
    with err.status("loading the PII detector"):
        guard.warm_up()
    with _bar("scrubbing", len(data.records)) as tick:
        result = scrub_records(
            data.records,
            guard.find,
            action=chosen,
            text_field=text_field,
            progress=tick,  # type: ignore[arg-type]
        )
    card = start_card(f"file {input_path}", data)
    params = {
        "action": chosen,
        "pii_threshold": settings.guard.pii_threshold,
        "quasi_identifiers": settings.guard.pii_quasi_identifiers,
    }
    dropped = {"pii": len(result.dropped)} if result.dropped else {}
    card.steps.append(
        CardStep(
            "pii-scrub", params, len(data.records), len(result.kept), dropped, result.to_dict()
        )
    )
    if report is not None:
        write_jsonl(report, [{"id": i, "line": n, "entities": e} for i, n, e in result.dropped])
    summary = {"in": len(data.records), "out": len(result.kept), **result.to_dict()}
    _finish(card, output, [r.data for r in result.kept], summary, as_json)


# --------------------------------------------------------------------------- synth + review


@data_app.command("synth")
def synth_cmd(
    collection: str | None = CollectionOpt,
    output: Path = OutputOpt,
    n: int = typer.Option(20, "--n", "-n", help="How many passages to ask about."),
    model: str | None = typer.Option(
        None, "--model", help="Gateway model (default: eval.judge_model, else the default)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Passage sampling seed (eval.seed)."),
    judge: bool = typer.Option(False, "--judge", help="Also ask the AI judge."),
    report: Path | None = typer.Option(None, "--report", help="JSONL: the filtered-out pairs."),
    as_json: bool = DataJsonOpt,
) -> None:
    """Generate QA pairs from a collection, keep the answerable, distinct ones for review.

    Example:
      ragline data synth -c handbook -n 50 -o review.jsonl
      ragline data review review.jsonl --accept syn-1a2b… --reject syn-3c4d…
    """
    from ragline.data.card import CardStep, DataCard
    from ragline.data.records import write_jsonl
    from ragline.data.synth import AnswerabilityChecker, review_candidates
    from ragline.errors import CollectionNotFoundError, DatasetError
    from ragline.evaluate.synthetic import generate_synthetic
    from ragline.models.embedder import get_embedder
    from ragline.models.gateway import Gateway
    from ragline.prompts import PromptRegistry
    from ragline.store.factory import open_documents

    settings = _settings()
    cfg = settings.eval
    name = collection or settings.default_collection
    chosen = model or cfg.judge_model or settings.gateway.default_model
    store = open_documents(settings)
    try:
        if not store.has_collection(name):
            raise CollectionNotFoundError(name)
        with Gateway(settings) as gateway, err.status(f"generating {n} QA pairs with {chosen}"):
            gen = generate_synthetic(
                store,
                gateway,
                name,
                n=n,
                model=chosen,
                seed=cfg.seed if seed is None else seed,
                min_tokens=cfg.synthetic_min_tokens,
                max_tokens=cfg.synthetic_max_tokens,
                concurrency=cfg.concurrency,
                prompts=PromptRegistry.from_settings(settings),
            )
    finally:
        store.close()
    for failure in gen.failures:
        err.print(f"[yellow]skipped[/] {failure}", highlight=False)
    if not gen.items:
        raise DatasetError(
            f"the model {chosen} produced no QA pair from {n} passages",
            hint="try another --model (a larger one writes better questions)",
        )
    embedder = get_embedder(settings.embedder)
    with _bar("checking", len(gen.items)) as tick:
        result = review_candidates(
            gen.items,
            AnswerabilityChecker(settings, embedder),
            judge=_judge(settings) if judge else None,
            judge_min_rating=settings.data.judge_min_rating,
            dedup_threshold=settings.data.dedup_threshold,
            dedup_ngram=settings.data.dedup_ngram,
            semantic_threshold=settings.data.semantic_threshold,
            embedder=embedder,
            progress=tick,
        )
    card = DataCard(source=f"collection {name} (synthetic, model {chosen}, {gen.prompt})")
    card.steps.append(CardStep("generate", {"n": n, "model": chosen}, n, len(gen.items)))
    params = {"judge": judge, "dedup_threshold": settings.data.dedup_threshold}
    card.steps.append(
        CardStep("review-filter", params, len(gen.items), len(result.kept), result.counts())
    )
    if report is not None:
        write_jsonl(report, result.rejected)
    summary = {"in": len(gen.items), "out": len(result.kept), "rejected": result.counts()}
    _finish(card, output, result.kept, summary, as_json)
    if not as_json:
        typer.echo(f"review them: ragline data review {output} --accept ID … --reject ID …")


@data_app.command("review")
def review_cmd(
    file: Path = typer.Argument(..., help="A review file from `ragline data synth`."),
    accept: list[str] | None = typer.Option(None, "--accept", help="Accept this id (repeat)."),
    reject: list[str] | None = typer.Option(None, "--reject", help="Reject this id (repeat)."),
    accept_rest: bool = typer.Option(False, "--accept-rest", help="Accept every pending item."),
    reject_rest: bool = typer.Option(False, "--reject-rest", help="Reject every pending item."),
    as_json: bool = DataJsonOpt,
) -> None:
    """Mark synthetic QA pairs accepted or rejected (in place); list what is pending.

    Examples:
      ragline data review review.jsonl                      # what is pending
      ragline data review review.jsonl --accept syn-1a2b --reject syn-3c4d
    """
    from ragline.data.review import decide_file

    outcome = decide_file(  # the one path of every review decision (the web UI's too)
        file,
        accept=accept or [],
        reject=reject or [],
        accept_rest=accept_rest,
        reject_rest=reject_rest,
    )
    for bad in outcome.bad_lines[:10]:
        err.print(
            f"[yellow]malformed[/] {file}:{bad['line']}: {bad['reason']} (kept as it is)",
            highlight=False,
        )
    items, counts = outcome.items, outcome.counts
    pending = [it for it in items if it.get("review") is None]
    if as_json:
        print_json({**counts, "pending_ids": [it.get("id") for it in pending]})
        return
    typer.echo(
        f"{counts['accepted']} accepted, {counts['rejected']} rejected, {counts['pending']} pending"
    )
    for it in pending[:20]:
        typer.echo(f"  {it.get('id')}: {it.get('question')}  ->  {it.get('answer')}")


# --------------------------------------------------------------------------- export


@data_app.command("export")
def export_cmd(
    source: str = typer.Option(..., "--from", help="traces, feedback, synthetic or file."),
    fmt: str = typer.Option(..., "--format", help="chat, preference or embedding-pairs."),
    output: Path = OutputOpt,
    input_path: Path | None = typer.Option(
        None, "--input", "-i", help="The JSONL file (for --from synthetic and --from file)."
    ),
    collection: str | None = CollectionOpt,
    test_fraction: float | None = typer.Option(
        None, "--test-fraction", help="Share of documents held out (data.test_fraction)."
    ),
    eval_sets: list[Path] | None = typer.Option(
        None, "--eval-set", help="An evaluation set (JSONL) to check contamination against."
    ),
    keep_contaminated: bool = typer.Option(
        False, "--keep-contaminated", help="Flag, but keep, training examples that overlap."
    ),
    context: bool = typer.Option(
        True, "--context/--no-context", help="chat: put the passages in a system message."
    ),
    since: str | None = typer.Option(None, "--since", help="Traces/feedback after this: 7d…"),
    as_json: bool = DataJsonOpt,
) -> None:
    """Write training data (chat, preference, embedding pairs), split by document.

    Writes OUT (train) and OUT.test (test), no document on both sides, and checks the
    training split against evaluation sets (--eval-set) for contamination.

    Examples:
      ragline data export --from feedback --format preference -o prefs.jsonl
      ragline data export --from synthetic -i review.jsonl --format chat -o sft.jsonl \\
          --test-fraction 0.1 --eval-set eval.jsonl
      ragline data export --from traces --format embedding-pairs -o triples.jsonl -c handbook
    """
    from ragline.data import export as ex
    from ragline.data.card import CardStep, DataCard, FileRef, start_card, write_card
    from ragline.data.records import read_records, write_jsonl
    from ragline.errors import ConfigError

    if source not in ex.SOURCES:
        raise ConfigError(f"--from is one of {', '.join(ex.SOURCES)}; got {source!r}")
    if fmt not in ex.FORMATS:
        raise ConfigError(f"--format is one of {', '.join(ex.FORMATS)}; got {fmt!r}")
    settings = _settings()
    cfg = settings.data
    fraction = cfg.test_fraction if test_fraction is None else test_fraction
    evals: dict[str, str] = {}
    for path in eval_sets or []:  # read (and refuse) them before any long work
        evals.update(
            {
                f"{path.name}:{k}": v
                for k, v in ex.eval_texts(read_records(path, require_text=False).records).items()
            }
        )
    api = None
    card: DataCard
    if source in ("synthetic", "file"):
        if input_path is None:
            raise ConfigError(f"--from {source} reads a file: give it with --input FILE")
        data = _read(input_path, None, require_text=False)
        examples = ex.examples_from_records(data.records, source=source)
        card = start_card(f"{source} {input_path}", data)
        count_in = len(data.records)
    else:
        from ragline.cli.common import open_api
        from ragline.trace.windows import parse_point

        api = open_api()

        def chunks(coll: str, ids: list[str]) -> dict[str, tuple[str, str]]:
            try:
                found = api.store.get_chunks(coll, ids)
            except Exception:  # a collection deleted since: its passages are unknown
                return {}
            return {c.id: (c.document_id, c.text) for c in found}

        examples = ex.examples_from_store(
            api.traces,
            source=source,  # type: ignore[arg-type]
            chunks=chunks,
            since_ns=parse_point(since) if since else None,
        )
        card = DataCard(source=f"{source} in {settings.store_url.split('@')[-1]}")
        count_in = len(examples)
    if api is None and fmt == "embedding-pairs":  # hard negatives come from the retriever
        from ragline.cli.common import open_api

        api = open_api()
    try:
        ex.require_examples(examples, source, fmt)
        train, test = ex.split_by_document(examples, test_fraction=fraction, seed=cfg.split_seed)
        card.steps.append(
            CardStep(
                "split-by-document",
                {"test_fraction": fraction, "seed": cfg.split_seed},
                len(examples),
                len(train),
                notes={"test_examples": len(test)},
            )
        )
        check = None
        if evals:
            before = len(train)
            train, check = ex.check_contamination(
                train, evals, n=cfg.contamination_n, drop=not keep_contaminated
            )
            card.steps.append(
                CardStep(
                    "contamination",
                    {"n": cfg.contamination_n, "eval_sets": [str(p) for p in eval_sets or []]},
                    before,
                    len(train),
                    {"contaminated": before - len(train)} if before != len(train) else {},
                    check.to_dict(),
                )
            )
        outs = {"train": _format(ex, fmt, train, test, api, collection, cfg, context)}
        if test:
            outs["test"] = _format(ex, fmt, test, train, api, collection, cfg, context)
        card.steps.append(
            CardStep(
                f"format:{fmt}",
                {"context": context}
                if fmt == "chat"
                else ({"hard_negatives": cfg.hard_negatives} if fmt == "embedding-pairs" else {}),
                len(train) + len(test),
                sum(len(v) for v in outs.values()),
            )
        )
    finally:
        if api is not None:
            api.close()
    if not outs["train"] and not outs.get("test"):
        from ragline.errors import DatasetError

        raise DatasetError(
            f"{len(examples)} examples gave no {fmt} line",
            hint="preference pairs need answers judged both ways (or corrections); "
            "embedding pairs need passages; chat needs answers not judged bad",
        )
    test_path = output.with_name(output.stem + ".test" + (output.suffix or ".jsonl"))
    n_train, sha_train = write_jsonl(output, outs["train"])
    card.outputs.append(FileRef(str(output), sha_train, n_train))
    if "test" in outs:
        n_test, sha_test = write_jsonl(test_path, outs["test"])
        card.outputs.append(FileRef(str(test_path), sha_test, n_test))
    json_card, _ = write_card(card, output)
    summary = {
        "in": count_in,
        "examples": len(examples),
        "out": n_train,
        "test": len(outs.get("test", [])),
        "output": str(output),
        **({"test_output": str(test_path)} if "test" in outs else {}),
        "card": str(json_card),
        **({"contamination": check.to_dict()} if check is not None else {}),
    }
    if as_json:
        print_json(summary)
    else:
        typer.echo(
            f"{count_in} in -> {n_train} train + {summary['test']} test {fmt} lines "
            f"({output}); card: {json_card}"
        )
        if check is not None:
            typer.echo(
                f"contamination: {len(check.report.contaminated)} of {check.eval_items} "
                f"evaluation items overlap the training data; {len(check.flagged)} training "
                f"examples {'dropped' if check.dropped else 'flagged'}"
            )


def _format(
    ex: Any,
    fmt: str,
    mine_for: list[Any],
    other: list[Any],
    api: Any,
    collection: str | None,
    cfg: Any,
    context: bool,
) -> list[dict[str, Any]]:
    if fmt == "chat":
        return [line for e in mine_for if (line := ex.to_chat(e, context=context)) is not None]
    if fmt == "preference":
        return ex.to_preferences(mine_for)
    other_docs = {d for e in other for d in e.doc_ids}
    miner = _miner(api, collection, cfg.hard_negatives + 5)
    out: list[dict[str, Any]] = []
    for e in mine_for:
        out.extend(ex.to_triples(e, miner, exclude_docs=other_docs, limit=cfg.hard_negatives))
    return out


def _miner(api: Any, collection: str | None, k: int) -> Any:
    """Hard negatives: the retriever's top hits from other documents."""
    from ragline.data.export import PassageRef

    own = api

    def mine(example: Any, exclude: set[str]) -> list[PassageRef]:
        coll = collection or example.collection
        hits = own.search(example.question, collection=coll, k=k + 10)
        out = []
        for h in hits:
            c = h.chunk
            # a document is named by its id, its key or its source path, depending on where
            # the example came from (traces: ids; synthetic files: the index's document names)
            if {c.document_id, c.document_key, c.source, c.id} & exclude:
                continue
            out.append(PassageRef(c.text, c.document_id, c.id))
            if len(out) >= k:
                break
        return out

    return mine


# --------------------------------------------------------------------------- plant


@data_app.command("plant")
def plant_cmd(
    pool: Path = typer.Argument(..., help="JSONL of distinct texts (e.g. a BEIR corpus)."),
    output: Path = OutputOpt,
    size: int = typer.Option(1000, "--size", help="Records in the planted set."),
    seed: int = typer.Option(..., "--seed", help="Seed: the same seed gives the same set."),
    text_field: str | None = FieldOpt,
    as_json: bool = DataJsonOpt,
) -> None:
    """Write a planted near-duplicate set to check a dedup setting (docs/data.md).

    Originals from POOL, copies with 1-5% of words changed (duplicates) and rewrites with
    40-60% changed (not), each record with its family.
    """
    from ragline.data.card import CardStep, start_card
    from ragline.data.planted import COPY_RATE, REWRITE_RATE, planted_set

    data = _read(pool, text_field)
    records = planted_set([r.text for r in data.records], size=size, seed=seed)
    card = start_card(f"planted from {pool}", data)
    params = {"size": size, "seed": seed, "copy_rate": COPY_RATE, "rewrite_rate": REWRITE_RATE}
    card.steps.append(CardStep("plant", params, len(data.records), len(records)))
    _finish(
        card,
        output,
        [r.to_dict() for r in records],
        {"in": len(data.records), "out": len(records)},
        as_json,
    )


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


__all__ = ["data_app", "register"]
