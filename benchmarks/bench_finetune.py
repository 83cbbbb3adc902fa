"""Finetuning, measured: a LoRA adapter on SQuAD 2.0 and a finetuned embedder on SciFact.

**(a) LoRA on the embedded SmolLM2-135M** (``../shared/data/rag-qa/squad2-dev``).

*Split by article* (deterministic, the one ``bench_qa.py`` uses): the 16 articles sorted by
name, even positions are the *training* half, odd positions the *test* half; no paragraph
and no question of a test article is seen in training.

*Training data* (``lora-data``): the training half's paragraphs are ingested into their own
collection; ``--train-answerable`` answerable and ``--train-unanswerable`` unanswerable
questions of the training half are drawn (seeded) and each goes through the real answer
path's preparation (``Answerer.prepare``: hybrid retrieval, the relevance gate, the query-
focused excerpts, prompt ``answer@v3`` with the model's chat template), so the adapter learns
on exactly the messages the answer flow sends. Target: for an answerable question, an answer
the flow's own citation checker keeps (``answer_target``): the first reference answer that is
in the gold passage, with that passage's number (``"France [2]."``), else the gold passage's
sentence holding it, with its number; an unanswerable one's decline (``"The passages do not
say."``, a sentence the flow's decline detector recognises). Left out: questions the gate
would not send to the model, answerable ones whose gold paragraph is not among the passages,
and targets the checker drops. Written as chat JSONL.

*Training* (``lora-train``, run in the background, checkpointed): ``ragline.finetune.chat``
(LoRA rank/alpha/lr from ``settings.finetune``), timed, with the held-out loss before/after.

*Evaluation* (``lora-eval``): the test half's paragraphs in their own collection; a seeded
sample of test questions (half answerable, half not) through the **real answer path**
(``Ragline.ask_stream``, style ``generative``: retrieval, gate, prompt, the model's draft,
the citation checker) with the base model ``smollm2-135m`` and with ``smollm2-135m+NAME``
(the adapter served unmerged by llama.cpp). Answered correctly: an answerable question
answered (not declined) with token F1 >= 0.5 against its best reference (SQuAD
normalisation). Declines on unanswerable: the share declined. 95% Wilson intervals; ``report``
adds paired exact McNemar tests. ``--dev``: the same on a dev slice of the training half
(questions ``lora-data`` never drew), for choosing without looking at the test half.

**(b) Embedder** (``../shared/data/beir-scifact``): trained (``embedder``) on SciFact's *train*
queries (qrels/train.tsv, each with its relevant abstract as positive and the best-ranked
non-relevant abstract of the base model as hard negative) plus synthetic queries (the first
sentence of abstracts that no test query marks relevant, the rest of the abstract as
positive); never on test queries. Dense and hybrid nDCG@10 on the 300 test queries before
and after, each model embedding the whole corpus.

    python benchmarks/bench_finetune.py lora-data  [--work DIR]
    python benchmarks/bench_finetune.py lora-train [--work DIR]     # long: nohup it
    python benchmarks/bench_finetune.py lora-eval  [--limit 160] [--dev]
    python benchmarks/bench_finetune.py embedder   [--synthetic 2000]
    python benchmarks/bench_finetune.py embedder-dev [--epochs-grid 1 3]   # epochs, no test query
    python benchmarks/bench_finetune.py report     # results/finetune.json -> table

Results go to ``benchmarks/results/finetune.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, bench_data, machine

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).parent))

from bench_qa import load_questions, rate, split, token_f1

WORK = Path(os.environ.get("RAGLINE_FINETUNE_WORK") or Path(tempfile.gettempdir()) / "ragline-ft")
OUT = RESULTS / "finetune.json"
ADAPTER = "squad"
DECLINE_TARGET = "The passages do not say."
TRAIN_COLLECTION, TEST_COLLECTION = "squad-train", "squad-test"


def squad_dir() -> Path:
    return bench_data() / "rag-qa" / "squad2-dev"


def load_results() -> dict[str, Any]:
    return json.loads(OUT.read_text()) if OUT.exists() else {}


def save_results(key: str, value: dict[str, Any]) -> None:
    results = load_results()
    results["machine"] = machine()
    results[key] = value
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {OUT} [{key}]", flush=True)


def settings_for(work: Path, home: str) -> Any:
    from ragline.config import load_settings

    return load_settings(
        home=work / home,
        finetune={"adapters_dir": work / "adapters"},
        cache={"enabled": False},
    )


def corpus_half(work: Path, half: str) -> Path:
    """The paragraphs of one half's articles as their own JSONL file."""
    questions = split(load_questions(), half)
    articles = {q["article"] for q in questions}
    out = work / f"corpus-{half}.jsonl"
    # a paragraph's _id is "<article>-<n>" (the article as the questions name it: "Immune_system";
    # its title has spaces)
    lines = [
        line
        for line in (squad_dir() / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
        if line and json.loads(line)["_id"].rsplit("-", 1)[0] in articles
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def draw(questions: list[dict[str, Any]], answerable: int, unanswerable: int, seed: int) -> list:
    rng = random.Random(seed)
    out = []
    for flag, n in ((True, answerable), (False, unanswerable)):
        pool = [q for q in questions if q["answerable"] == flag]
        out += rng.sample(pool, min(n, len(pool)))
    rng.shuffle(out)
    return out


# --------------------------------------------------------------------------- (a) LoRA


def answer_target(checker: Any, passages: list[Any], gold: int, answers: list[str]) -> tuple:
    """The training answer for an answerable question: ``(text, kind)`` or ``(None, why)``.

    The answer must survive the answer path's citation checker, or the flow drops it as
    unsupported. First choice: the bare span with its citation (``"1999 [2]."``, the best
    token F1; the checker reads a short answer together with the question). When the
    checker drops that: the gold passage's sentence holding the span, with its citation."""
    from ragline.text.sentences import sentences

    text = passages[gold].chunk.text
    span = next((a for a in answers if a and a in text), None)
    if span is None:
        return None, "span_not_in_excerpt"
    short = f"{span.rstrip('.')} [{gold + 1}]."
    if checker.check(short).kept:
        return short, "span"
    for sent in sentences(" ".join(text.split())):
        if span in sent and len(sent.split()) <= 40:
            quoted = f"{sent.rstrip().rstrip('.')} [{gold + 1}]."
            if checker.check(quoted).kept:
                return quoted, "sentence"
            break
    return None, "dropped_by_checker"


def lora_data(args: argparse.Namespace) -> None:
    from ragline.api import Ragline

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    corpus = corpus_half(work, "tune")
    questions = draw(
        split(load_questions(), "tune"), args.train_answerable, args.train_unanswerable, args.seed
    )
    kept: dict[str, int] = {"span": 0, "sentence": 0, "unanswerable": 0}
    skipped: dict[str, int] = {}
    prompt_tokens: list[int] = []
    t0 = time.perf_counter()
    with Ragline(settings_for(work, "home-train")) as rag:
        rag.ingest([corpus], collection=TRAIN_COLLECTION)  # unchanged paragraphs are skipped
        answerer = rag.answerer
        with (work / "train.jsonl").open("w", encoding="utf-8") as f:
            for q in questions:
                prep = answerer.prepare(q["text"], collection=TRAIN_COLLECTION)
                if not prep.context.relevant or not prep.messages:
                    skipped["not_relevant"] = skipped.get("not_relevant", 0) + 1
                    continue
                passages = list(prep.context.passages)
                ids = [p.chunk.record_id for p in passages]
                if q["answerable"]:
                    if q["gold"] not in ids:
                        skipped["gold_not_in_passages"] = skipped.get("gold_not_in_passages", 0) + 1
                        continue
                    target, kind = answer_target(
                        answerer.checker(prep), passages, ids.index(q["gold"]), q["answers"]
                    )
                    if target is None:
                        skipped[kind] = skipped.get(kind, 0) + 1
                        continue
                else:
                    target, kind = DECLINE_TARGET, "unanswerable"
                kept[kind] += 1
                prompt_tokens.append(sum(len(m["content"]) for m in prep.messages) // 4)
                messages = [*prep.messages, {"role": "assistant", "content": target}]
                f.write(json.dumps({"messages": messages, "id": q["_id"], "kind": kind}) + "\n")
                f.flush()
    prompt_tokens.sort()
    info = {
        "drawn": len(questions),
        "kept": kept,
        "skipped": skipped,
        "prompt_tokens_median_max_estimate": [
            prompt_tokens[len(prompt_tokens) // 2] if prompt_tokens else 0,
            prompt_tokens[-1] if prompt_tokens else 0,
        ],
        "seconds": round(time.perf_counter() - t0, 1),
        "file": str(work / "train.jsonl"),
    }
    print(json.dumps(info, indent=1))
    save_results("lora_data", info)


def lora_train(args: argparse.Namespace) -> None:
    from ragline.finetune.chat import ChatTrainConfig, train_chat
    from ragline.finetune.data import read_chat

    work: Path = args.work
    settings = settings_for(work, "home-train")
    data = read_chat(work / "train.jsonl")
    # the file is in a seeded random order: the first N train, the next ones are held out
    train = data.examples[: args.examples]
    held = data.examples[args.examples : args.examples + args.eval_examples]
    config = ChatTrainConfig.from_settings(
        settings,
        "smollm2-135m",
        work / "adapters" / args.adapter,
        epochs=args.epochs,
        max_seq_len=args.max_seq_len,
        lr=args.lr,
        batch_size=args.batch_size,
        layers=args.layers,
        checkpoint_every=2,
        max_steps=args.max_steps,
        max_minutes=args.max_minutes,
    )
    print(f"{len(train)} training, {len(held)} held-out examples; {config}", flush=True)
    started = time.perf_counter()

    def on_step(step: int, total: int, loss: float) -> None:
        elapsed = time.perf_counter() - started
        print(f"step {step}/{total} loss {loss:.4f} ({elapsed:.0f} s)", flush=True)

    report = train_chat(
        train,
        config,
        settings,
        eval_examples=held,
        data_sha256=data.sha256,
        on_step=on_step,
        log=lambda m: print(m, flush=True),
    )
    out = report.to_dict()
    out["cores"] = os.cpu_count()
    out["torch_threads"] = __import__("torch").get_num_threads()
    out["max_seq_len"] = config.max_seq_len
    out["epochs"] = config.epochs
    out["rank"], out["alpha"], out["lr"] = config.rank, config.alpha, config.lr
    print(json.dumps({k: v for k, v in out.items() if k != "losses"}, indent=1))
    save_results("lora_train" if args.adapter == ADAPTER else f"lora_train_{args.adapter}", out)


def ask_all(
    rag: Any,
    questions: list[dict[str, Any]],
    model: str,
    log: Path | None = None,
    collection: str = TEST_COLLECTION,
) -> list[dict[str, Any]]:
    """Each question through the answer path; each row also appended to ``log`` as it comes
    (a stopped run is still usable: ``lora-summary`` pairs what both models answered)."""
    from ragline.answer.events import AnswerDone

    rows = []
    for i, q in enumerate(questions, start=1):
        answer = None
        for event in rag.ask_stream(
            q["text"], collection=collection, style="generative", model=model
        ):
            if isinstance(event, AnswerDone):
                answer = event.answer
        assert answer is not None
        refs = q.get("answers") or []
        f1 = token_f1(answer.text, refs) if q["answerable"] and not answer.declined else 0.0
        rows.append(
            {
                "id": q["_id"],
                "answerable": q["answerable"],
                "declined": answer.declined,
                "decline_reason": answer.decline_reason,
                "answer": answer.text,
                "draft": answer.draft,
                "f1": round(f1, 4),
            }
        )
        if log is not None:
            with log.open("a", encoding="utf-8") as f:
                f.write(json.dumps(rows[-1]) + "\n")
        if i % 20 == 0:
            print(f"  {model}: {i}/{len(questions)}", flush=True)
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    return {
        "answered_correctly": rate([r["f1"] >= 0.5 for r in ans]),
        "answered": rate([not r["declined"] for r in ans]),
        "mean_f1_answerable": round(sum(r["f1"] for r in ans) / max(len(ans), 1), 4),
        "unanswerable_declined": rate([r["declined"] for r in una]),
    }


def dev_questions(seed: int) -> list[dict[str, Any]]:
    """Training-half questions that ``lora-data`` (its defaults) never drew: a dev slice
    for choosing between adapters without looking at the test half."""
    tune = split(load_questions(), "tune")
    drawn = {q["_id"] for q in draw(tune, 450, 200, seed)}
    return [q for q in tune if q["_id"] not in drawn]


def lora_eval(args: argparse.Namespace) -> None:
    from ragline.api import Ragline

    work: Path = args.work
    half = "tune" if args.dev else "test"
    corpus = corpus_half(work, half)
    pool = dev_questions(args.seed) if args.dev else split(load_questions(), "test")
    questions = draw(pool, args.limit - args.limit // 2, args.limit // 2, args.seed)
    collection = TRAIN_COLLECTION if args.dev else TEST_COLLECTION
    key = "lora_dev" if args.dev else "lora_eval"
    runs: dict[str, Any] = {}
    with Ragline(settings_for(work, "home-train" if args.dev else "home-eval")) as rag:
        rag.ingest([corpus], collection=collection)  # unchanged paragraphs are skipped
        for model in args.models or ("smollm2-135m", f"smollm2-135m+{args.adapter}"):
            t0 = time.perf_counter()
            log = work / f"rows-{'dev-' if args.dev else ''}{model}.jsonl"
            log.unlink(missing_ok=True)
            rows = ask_all(rag, questions, model, log, collection)
            summary = summarise(rows)
            summary["seconds"] = round(time.perf_counter() - t0, 1)
            print(model, json.dumps(summary), flush=True)
            runs[model] = {**summary, "rows": rows}
    previous = load_results().get(key, {})
    if previous.get("questions") != len(questions):
        previous = {}
    save_results(
        key,
        {
            "split": "dev slice of the training half (questions lora-data did not draw)"
            if args.dev
            else "test half (odd articles)",
            "questions": len(questions),
            "seed": args.seed,
            "path": f"Ragline.ask_stream, style generative, retrieval over the {half} articles",
            "runs": {**previous.get("runs", {}), **runs},
        },
    )


def lora_summary(args: argparse.Namespace) -> None:
    """Pair the rows of the base and the adapter (``rows-<model>.jsonl``, or the saved runs)
    on the questions both answered, and save the paired summary."""
    results = load_results().get("lora_eval", {})
    base, tuned = "smollm2-135m", f"smollm2-135m+{args.adapter}"
    rows: dict[str, list[dict[str, Any]]] = {}
    for model in (base, tuned):
        path = args.work / f"rows-{model}.jsonl"
        saved = results.get("runs", {}).get(model, {}).get("rows", [])
        logged = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        rows[model] = max(saved, logged, key=len)
    common = [r["id"] for r in rows[base] if r["id"] in {x["id"] for x in rows[tuned]}]
    runs = {}
    for model in (base, tuned):
        by_id = {r["id"]: r for r in rows[model]}
        paired = [by_id[i] for i in common]
        runs[model] = {**summarise(paired), "rows": paired}
        print(model, json.dumps(summarise(paired)))
    save_results(
        "lora_eval",
        {
            "split": "test half (odd articles)",
            "questions": len(common),
            "seed": args.seed,
            "path": "Ragline.ask_stream, style generative, retrieval over the test articles",
            "runs": runs,
        },
    )


# --------------------------------------------------------------------------- (b) embedder


def scifact() -> tuple[list[dict[str, Any]], dict[str, str], dict[str, dict[str, dict[str, int]]]]:
    root = bench_data() / "beir-scifact"
    corpus = [json.loads(line) for line in (root / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (root / "queries.jsonl").open())}
    qrels: dict[str, dict[str, dict[str, int]]] = {"train": {}, "test": {}}
    for part in qrels:
        for line in (root / "qrels" / f"{part}.tsv").open():
            qid, did, score = line.rstrip("\n").split("\t")
            if qid != "query-id":
                qrels[part].setdefault(qid, {})[did] = int(score)
    return corpus, queries, qrels


def ndcg(rag: Any, queries: list[tuple[str, str]], qrels: dict, mode: str) -> dict[str, float]:
    import pytrec_eval

    run: dict[str, dict[str, float]] = {}
    for qid, ranked in rag.search_batch(queries, collection="scifact", mode=mode, k=100):
        run[qid] = {}
        for doc, score in zip(ranked.doc_ids, ranked.scores, strict=True):
            run[qid].setdefault(doc, float(score))
    per_q = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(run)
    n = len(per_q)
    return {
        "ndcg@10": round(sum(v["ndcg_cut_10"] for v in per_q.values()) / n, 4),
        "recall@100": round(sum(v["recall_100"] for v in per_q.values()) / n, 4),
        # kept for a paired test of before against after (the same queries)
        "per_query_ndcg@10": {q: round(v["ndcg_cut_10"], 5) for q, v in sorted(per_q.items())},
    }


def paired_bootstrap(before: dict[str, float], after: dict[str, float], seed: int = 0) -> dict:
    """Mean difference of per-query nDCG@10 (after − before) with a 95% paired bootstrap
    interval (10,000 resamples of the queries) and a two-sided sign-flip p-value."""
    import numpy as np

    ids = sorted(set(before) & set(after))
    d = np.array([after[q] - before[q] for q in ids])
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, len(d), size=(10_000, len(d)))].mean(axis=1)
    flips = (d * rng.choice([-1.0, 1.0], size=(10_000, len(d)))).mean(axis=1)
    return {
        "queries": len(ids),
        "mean_difference": round(float(d.mean()), 4),
        "ci95": [
            round(float(np.percentile(boots, 2.5)), 4),
            round(float(np.percentile(boots, 97.5)), 4),
        ],
        "p_sign_flip": round(float((np.abs(flips) >= abs(d.mean())).mean()), 4),
        "better": int((d > 0).sum()),
        "worse": int((d < 0).sum()),
    }


def scifact_rag(work: Path, home: str, settings: Any = None) -> Any:
    from ragline.api import Ragline
    from ragline.config import load_settings

    os.environ["RAGLINE_CHUNKING__MAX_TOKENS"] = "100000"  # one chunk per abstract
    os.environ["RAGLINE_CHUNKING__OVERLAP_TOKENS"] = "0"
    settings = settings or load_settings(
        home=work / home, finetune={"embedders_dir": work / "embedders"}
    )
    rag = Ragline(settings)
    t0 = time.perf_counter()  # unchanged documents are skipped: a stopped run resumes here
    report = rag.ingest([bench_data() / "beir-scifact" / "corpus.jsonl"], collection="scifact")
    print(
        f"SciFact with {rag.embedder.name}: {report.added} added ({time.perf_counter() - t0:.0f} s)"
    )
    return rag


def passage(doc: dict[str, Any]) -> str:
    return f"{doc.get('title', '')}\n{doc['text']}".strip()


def embedder_triples(
    work: Path,
    rag: Any,
    synthetic: int,
    seed: int,
    path: Path,
    query_ids: list[str] | None = None,
    exclude_docs: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Train queries with their relevant abstract and the base model's best-ranked wrong one;
    synthetic queries (an abstract's first sentence) from abstracts no test query cites.

    ``query_ids``: the train queries to use (None: all); ``exclude_docs``: abstracts never to
    make synthetic queries from (beside the test queries' ones)."""
    from ragline.text.sentences import sentences

    corpus, queries, qrels = scifact()
    by_id = {d["_id"]: d for d in corpus}
    test_docs = {did for rel in qrels["test"].values() for did in rel} | set(exclude_docs)
    ids = sorted(qrels["train"], key=int) if query_ids is None else query_ids
    train_q = [(qid, queries[qid]) for qid in ids]
    assert not set(qrels["train"]) & set(qrels["test"]), "train and test queries overlap"
    out = []
    negatives = dict(rag.search_batch(train_q, collection="scifact", mode="dense", k=10))
    for qid, text in train_q:
        relevant = qrels["train"][qid]
        wrong = [d for d in negatives[qid].doc_ids if d not in relevant]
        for did in relevant:
            if did in by_id:
                neg = passage(by_id[wrong[0]]) if wrong else None
                out.append({"query": text, "positive": passage(by_id[did]), "negative": neg})
    n_train = len(out)
    rng = random.Random(seed)
    pool = [d for d in corpus if d["_id"] not in test_docs]
    rng.shuffle(pool)
    synth: list[tuple[str, str, dict[str, Any]]] = []
    for d in pool:
        sents = sentences(" ".join(d["text"].split()))
        if len(sents) < 3 or not 6 <= len(sents[0].split()) <= 40:
            continue
        synth.append((d["_id"], sents[0], d))
        if len(synth) >= synthetic:
            break
    found = dict(
        rag.search_batch([(did, q) for did, q, _ in synth], collection="scifact", mode="dense", k=5)
    )
    for did, q, d in synth:
        rest = " ".join(" ".join(d["text"].split()).split(q, 1)[-1].split())
        wrong = [x for x in found[did].doc_ids if x != did]
        neg = passage(by_id[wrong[0]]) if wrong else None
        out.append({"query": q, "positive": f"{d.get('title', '')}\n{rest}", "negative": neg})
    with path.open("w", encoding="utf-8") as f:
        for t in out:
            f.write(json.dumps({k: v for k, v in t.items() if v is not None}) + "\n")
    return {
        "train_query_triples": n_train,
        "synthetic_triples": len(out) - n_train,
        "file": str(path),
    }


def train_config(settings: Any, name: str, epochs: float, max_seq_len: int, seed: int) -> Any:
    """The embedder's training run ``name`` with the settings' learning rate, batch and threads."""
    from ragline.finetune.embedder import EmbedderTrainConfig

    return EmbedderTrainConfig(
        output=settings.embedders_dir / name,
        epochs=epochs,
        lr=settings.finetune.embedder_lr,
        batch_size=settings.finetune.embedder_batch_size,
        max_seq_len=max_seq_len,
        seed=seed,
        threads=settings.finetune.threads,
    )


def embedder_bench(args: argparse.Namespace) -> None:
    from ragline.finetune.data import read_triples
    from ragline.finetune.embedder import embedder_settings, train_embedder

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    corpus, queries, qrels = scifact()
    test_q = [(qid, queries[qid]) for qid in sorted(qrels["test"], key=int)]
    result: dict[str, Any] = {"test_queries": len(test_q), "documents": len(corpus)}
    with scifact_rag(work, "home-scifact-base") as rag:
        result["before"] = {m: ndcg(rag, test_q, qrels["test"], m) for m in ("dense", "hybrid")}
        print("before", {m: v["ndcg@10"] for m, v in result["before"].items()}, flush=True)
        triples = work / f"triples{args.tag}.jsonl"
        if not triples.exists():
            result["data"] = embedder_triples(work, rag, args.synthetic, args.seed, triples)
        base_settings = rag.settings
    data = read_triples(triples)
    config = train_config(
        base_settings, f"scifact{args.tag}", args.epochs, args.max_seq_len, args.seed
    )
    started = time.perf_counter()

    def on_step(step: int, total: int, loss: float) -> None:
        if step % 5 == 0 or step == total:
            print(f"step {step}/{total} loss {loss:.4f} ({time.perf_counter() - started:.0f} s)")

    if not (config.output / "model.onnx").exists():
        report = train_embedder(data.examples, config, data_sha256=data.sha256, on_step=on_step)
        result["training"] = {k: v for k, v in report.to_dict().items() if k != "losses"}
        result["training"]["loss_first_last"] = [report.losses[0], report.losses[-1]]
    from ragline.config import load_settings

    home = f"home-scifact-tuned{args.tag}"
    tuned = embedder_settings(
        f"scifact{args.tag}",
        load_settings(home=work / home, finetune={"embedders_dir": work / "embedders"}),
    )
    with scifact_rag(work, home, tuned) as rag:
        result["after"] = {m: ndcg(rag, test_q, qrels["test"], m) for m in ("dense", "hybrid")}
        result["embedder"] = rag.embedder.name
    result["paired"] = {
        m: paired_bootstrap(
            result["before"][m]["per_query_ndcg@10"], result["after"][m]["per_query_ndcg@10"]
        )
        for m in ("dense", "hybrid")
    }
    brief = {
        k: {m: {x: y for x, y in v.items() if x != "per_query_ndcg@10"} for m, v in d.items()}
        for k, d in (("before", result["before"]), ("after", result["after"]))
    }
    print("after", brief["after"], flush=True)
    print("paired", result["paired"], flush=True)
    result["settings"] = {"synthetic": args.synthetic, "max_seq_len": args.max_seq_len}
    save_results(f"embedder{args.tag}", result)


def embedder_dev(args: argparse.Namespace) -> None:
    """Choose the number of epochs without the test queries.

    Every fifth SciFact train query (by id) is a dev query; the embedder is trained on the
    other train queries (and 200 synthetic queries from abstracts neither the test nor the
    dev queries cite) for each of ``--epochs-grid``, and each model's dense nDCG@10 is
    measured on the dev queries over a sub-corpus (every abstract a dev query cites and
    ``--distractors`` others, seeded). The test queries are not read."""
    import numpy as np
    import pytrec_eval

    from ragline.config import load_settings
    from ragline.finetune.data import read_triples
    from ragline.finetune.embedder import embedder_settings, train_embedder
    from ragline.models.embedder import get_embedder

    work: Path = args.work
    corpus, queries, qrels = scifact()
    train_ids = sorted(qrels["train"], key=int)
    dev_ids = train_ids[::5]
    fit_ids = [q for q in train_ids if q not in set(dev_ids)]
    dev_qrels = {q: qrels["train"][q] for q in dev_ids}
    dev_docs = frozenset(d for rel in dev_qrels.values() for d in rel)
    rng = random.Random(args.seed)
    others = [d for d in corpus if d["_id"] not in dev_docs]
    sub = [d for d in corpus if d["_id"] in dev_docs] + rng.sample(others, args.distractors)
    triples = work / "triples_dev.jsonl"
    with scifact_rag(work, "home-scifact-base") as rag:
        if not triples.exists():
            info = embedder_triples(
                work, rag, 200, args.seed, triples, query_ids=fit_ids, exclude_docs=dev_docs
            )
            print("dev-protocol triples", info, flush=True)
        base_settings = rag.settings
    data = read_triples(triples)

    def dev_ndcg(settings: Any) -> float:
        emb = get_embedder(settings.embedder)
        docs = np.asarray(emb.embed([passage(d) for d in sub]), dtype=np.float32)
        qs = np.asarray(emb.embed([queries[q] for q in dev_ids]), dtype=np.float32)
        run = {}
        for qid, row in zip(dev_ids, qs @ docs.T, strict=True):
            top = np.argsort(-row)[:100]
            run[qid] = {sub[i]["_id"]: float(row[i]) for i in top}
        per_q = pytrec_eval.RelevanceEvaluator(dev_qrels, {"ndcg_cut.10"}).evaluate(run)
        return round(sum(v["ndcg_cut_10"] for v in per_q.values()) / len(per_q), 4)

    result: dict[str, Any] = {
        "dev_queries": len(dev_ids),
        "fit_queries": len(fit_ids),
        "sub_corpus": len(sub),
        "triples": len(data.examples),
        "dense_ndcg@10": {"base": dev_ndcg(base_settings)},
    }
    print("base", result["dense_ndcg@10"]["base"], flush=True)
    for epochs in args.epochs_grid:
        name = f"scifact_dev_e{epochs:g}"
        config = train_config(base_settings, name, epochs, args.max_seq_len, args.seed)
        started = time.perf_counter()
        if not (config.output / "model.onnx").exists():
            train_embedder(data.examples, config, data_sha256=data.sha256)
        tuned = embedder_settings(
            name,
            load_settings(home=work / "home-dev", finetune={"embedders_dir": work / "embedders"}),
        )
        result["dense_ndcg@10"][f"{epochs:g} epochs"] = dev_ndcg(tuned)
        print(
            f"{epochs:g} epochs",
            result["dense_ndcg@10"][f"{epochs:g} epochs"],
            f"({time.perf_counter() - started:.0f} s)",
            flush=True,
        )
    scores = {k: v for k, v in result["dense_ndcg@10"].items() if k != "base"}
    result["chosen"] = max(scores, key=lambda k: scores[k])
    print("chosen on dev:", result["chosen"], flush=True)
    save_results("embedder_dev", result)


# --------------------------------------------------------------------------- report


def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for ``b`` and ``c`` discordant pairs."""
    from math import comb

    n = b + c
    if not n:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(runs: dict[str, Any]) -> str:
    """The base against each adapter on the same questions: who alone got each one."""
    base = runs.get("smollm2-135m")
    out = []
    for name, run in runs.items():
        if base is None or name == "smollm2-135m":
            continue
        b_rows = {r["id"]: r for r in base["rows"]}
        pairs = [(b_rows[r["id"]], r) for r in run["rows"] if r["id"] in b_rows]
        for what, ok, answerable in (
            ("correct", lambda r: r["f1"] >= 0.5, True),
            ("declined", lambda r: r["declined"], False),
        ):
            sel = [(x, y) for x, y in pairs if x["answerable"] == answerable]
            b = sum(ok(x) and not ok(y) for x, y in sel)
            c = sum(ok(y) and not ok(x) for x, y in sel)
            out.append(
                f"paired, {name} vs base, {what} ({len(sel)} questions): base only {b}, "
                f"adapter only {c}, exact McNemar p = {mcnemar(b, c):.3f}"
            )
    return "\n".join(out)


def report(args: argparse.Namespace) -> None:
    """The figures of ``finetune.json`` as the markdown tables of docs/benchmarks.md."""
    r = load_results()

    def pct(x: dict[str, Any]) -> str:
        lo, hi = (max(0.0, v) for v in x["ci95"])
        return f"{x['rate']:.3f} [{lo:.2f}, {hi:.2f}] (n={x['n']})"

    for key in ("lora_dev", "lora_eval_80", "lora_eval"):
        if key not in r:
            continue
        ev = r[key]
        print(f"\n{key}: {ev['questions']} questions, {ev['split']}; {ev['path']}\n")
        head = "| model | correct (F1 ≥ 0.5) | answered | mean F1 | unanswerable declined | s |"
        print(head)
        print("| --- | --- | --- | --- | --- | --- |")
        for name, run in ev["runs"].items():
            print(
                f"| {name} | {pct(run['answered_correctly'])} | {pct(run['answered'])} | "
                f"{run['mean_f1_answerable']:.3f} | {pct(run['unanswerable_declined'])} | "
                f"{run.get('seconds', 0):.0f} |"
            )
        print(paired(ev["runs"]))
    for key in sorted(k for k in r if k.startswith("lora_train")):
        t = r[key]
        print(
            f"\n{key}: {t['examples']} examples, {t['steps']} of {t.get('planned_steps')} "
            f"steps (resumed from {t.get('resumed_from', 0)}), {t['seconds']:.0f} s, "
            f"{t.get('torch_threads')} torch thread(s); held-out loss {t['before']['loss']} -> "
            f"{t['after']['loss']}, answer-token accuracy {t['before']['token_accuracy']} -> "
            f"{t['after']['token_accuracy']} (n={t['eval_examples']})"
        )
    if "embedder" in r:
        e = r["embedder"]
        print(f"\nembedder, SciFact test ({e['test_queries']} queries)\n")
        print("| mode | nDCG@10 before | after | Recall@100 before | after |")
        print("| --- | --- | --- | --- | --- |")
        for mode in ("dense", "hybrid"):
            b, a = e["before"][mode], e["after"][mode]
            print(
                f"| {mode} | {b['ndcg@10']:.4f} | {a['ndcg@10']:.4f} | "
                f"{b['recall@100']:.4f} | {a['recall@100']:.4f} |"
            )


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    commands = ("lora-data", "lora-train", "lora-eval", "lora-summary", "embedder", "embedder-dev")
    for name in (*commands, "report"):
        p = sub.add_parser(name)
        p.add_argument("--work", type=Path, default=WORK)
        p.add_argument("--seed", type=int, default=0)
        if name == "lora-data":
            p.add_argument("--train-answerable", type=int, default=450)
            p.add_argument("--train-unanswerable", type=int, default=200)
        if name == "lora-train":
            p.add_argument("--adapter", default=ADAPTER, help="the adapter folder's name")
            p.add_argument("--epochs", type=float, default=None)
            p.add_argument("--max-seq-len", type=int, default=None)
            p.add_argument("--examples", type=int, default=140, help="training examples")
            p.add_argument("--eval-examples", type=int, default=12, help="held-out examples")
            p.add_argument("--lr", type=float, default=5e-4)
            p.add_argument("--batch-size", type=int, default=4)
            p.add_argument("--layers", type=int, default=8, help="adapt the top N layers")
            p.add_argument("--max-minutes", type=float, help="stop training after this long")
            p.add_argument(
                "--max-steps",
                type=int,
                help="stop at this step (a stopped run: finish it from its checkpoint)",
            )
        if name in ("lora-eval", "lora-summary"):
            p.add_argument("--limit", type=int, default=200)
            p.add_argument("--adapter", default=ADAPTER)
            p.add_argument("--models", nargs="*", help="default: the base, then base+adapter")
            p.add_argument(
                "--dev", action="store_true", help="the training half's dev slice, not the test"
            )
        if name == "embedder":
            p.add_argument("--synthetic", type=int, default=2000)
            p.add_argument("--epochs", type=float, default=1.0)
            p.add_argument("--max-seq-len", type=int, default=256)
            p.add_argument("--tag", default="", help="suffix of the run's files and result key")
        if name == "embedder-dev":
            p.add_argument("--epochs-grid", type=float, nargs="+", default=[1.0, 3.0])
            p.add_argument("--max-seq-len", type=int, default=128)
            p.add_argument("--distractors", type=int, default=2000)
    args = parser.parse_args()
    {
        "lora-data": lora_data,
        "lora-train": lora_train,
        "lora-eval": lora_eval,
        "lora-summary": lora_summary,
        "embedder": embedder_bench,
        "embedder-dev": embedder_dev,
        "report": report,
    }[args.command](args)


if __name__ == "__main__":
    main()
