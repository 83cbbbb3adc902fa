"""Fuzz the HTTP API from its own OpenAPI document: every operation, every schemathesis
response check, with a valid admin key and with none.

A real server (store, embedder, a small ingested collection; the chat model a fast fake, so
the run tests input handling, not generation) is fuzzed by :func:`ragline.testing.fuzz.fuzz_api`:
for each operation, up to ``--examples`` requests that fit the schema (positive) and as many
that do not (negative), each answer run through all of schemathesis' response checks. The
table gives, per operation and key, the examples sent, the statuses seen and what failed.
``tests/integration/test_server_schemathesis.py`` runs the same with a few examples.

    python benchmarks/fuzz_api.py [--examples 100]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path

from _common import write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100, help="per operation and mode")
    args = parser.parse_args()

    import schemathesis

    from ragline.testing.fuzz import (
        EXTRA_REJECTIONS,
        SEMANTIC_REJECTIONS,
        all_checks,
        failures_of,
        fuzz_api,
        fuzz_target,
    )

    runs = {}
    with tempfile.TemporaryDirectory() as tmp, fuzz_target(Path(tmp)) as (server, secret):
        for label, headers in (
            ("admin key", {"Authorization": f"Bearer {secret}"}),
            ("no key", {}),
        ):
            start = time.perf_counter()
            results = fuzz_api(server.url, headers=headers, max_examples=args.examples)
            runs[label] = (results, time.perf_counter() - start)

    names = [c.__name__ for c in all_checks()]
    print(f"schemathesis {schemathesis.__version__}; checks: {', '.join(names)}")
    print(f"{'operation':<46} {'key':<10} {'examples':>8}  statuses{'':<30} failures")
    rows = []
    for label, (results, seconds) in runs.items():
        by_op: dict[str, dict] = {}
        for r in results:
            row = by_op.setdefault(
                r.operation,
                {
                    "operation": r.operation,
                    "key": label,
                    "examples": 0,
                    "statuses": Counter(),
                    "failures": [],
                    "declared": Counter(),
                },
            )
            row["examples"] += r.examples
            row["statuses"].update(r.statuses)
            row["declared"].update(r.declared)
            row["failures"] += [f"{f.code} {f.title} ×{f.count}" for f in r.failures.values()]
        for row in by_op.values():
            statuses = " ".join(f"{s}×{n}" for s, n in sorted(row["statuses"].items()))
            failed = "; ".join(row["failures"]) or "none"
            print(
                f"{row['operation']:<46} {label:<10} {row['examples']:>8}  {statuses:<38} {failed}"
            )
            rows.append(
                {**row, "statuses": dict(row["statuses"]), "declared": dict(row["declared"])}
            )
        total = sum(r.examples for r in results)
        print(
            f"-- {label}: {total} requests in {seconds:.0f} s, {len(failures_of(results))} failures"
        )
    failures = {label: failures_of(results) for label, (results, _) in runs.items()}
    for label, lines in failures.items():
        for line in lines:
            print(f"[{label}] {line[:400]}")
    write_results(
        "fuzz_api",
        {
            "schemathesis": schemathesis.__version__,
            "checks": names,
            "examples_per_operation_and_mode": args.examples,
            "modes": ["positive", "negative"],
            "rows": rows,
            "requests": {label: sum(r.examples for r in res) for label, (res, _) in runs.items()},
            "seconds": {label: round(s, 1) for label, (_, s) in runs.items()},
            "failures": failures,
            "extra_rejection_statuses": {str(k): v for k, v in EXTRA_REJECTIONS.items()},
            "declared_rejections": {
                f"{op} -> {status}": why for (op, status), why in SEMANTIC_REJECTIONS.items()
            },
        },
    )
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
