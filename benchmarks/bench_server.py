"""Server throughput and latency: the search endpoint under 1, 10 and 50 concurrent clients.

A SciFact subset is ingested into a temporary home; the server (uvicorn, the real app) runs
in this process, and the load comes from a separate process on loopback (an httpx async
client with N concurrent workers, each sending its next request when the last one answered).
In the same run the same queries go through the in-process Python call
(``Ragline.search``), so the server's overhead — HTTP, JSON, auth, the thread pool — is the
difference at one client.

    python benchmarks/bench_server.py [--docs 2000] [--requests 400] [--levels 1,10,50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import bench_data, percentile, write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")


# --------------------------------------------------------------------------- load generator


async def _load(url: str, collection: str, queries: list[str], concurrency: int, total: int):
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                body = {"query": queries[i % len(queries)], "k": 10}
                t0 = time.perf_counter()
                r = await client.post(f"/api/collections/{collection}/search", json=body)
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200

        for q in queries[: min(20, len(queries))]:  # warm-up: connections, caches
            await client.post(f"/api/collections/{collection}/search", json={"query": q})
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {"latencies": latencies, "errors": errors, "wall_s": wall}


def load_main(args: argparse.Namespace) -> None:
    queries = json.loads(Path(args.queries_file).read_text())
    out = asyncio.run(_load(args.load, args.collection, queries, args.concurrency, args.requests))
    print(json.dumps(out))


def run_load(url: str, collection: str, queries_file: Path, concurrency: int, total: int):
    cmd = [
        sys.executable,
        __file__,
        "--load",
        url,
        "--collection",
        collection,
        "--queries-file",
        str(queries_file),
        "--concurrency",
        str(concurrency),
        "--requests",
        str(total),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- benchmark


def summary(latencies: list[float], wall_s: float) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "rps": len(latencies) / wall_s if wall_s else float("nan"),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=2000, help="SciFact documents to ingest")
    parser.add_argument("--requests", type=int, default=400, help="requests per level")
    parser.add_argument("--levels", default="1,10,50", help="concurrent clients")
    parser.add_argument("--home", type=Path, help="RAGLINE_HOME (default: a temp dir)")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="ragline-bench-server-"))
    os.environ["RAGLINE_HOME"] = str(home)

    from ragline.api import Ragline
    from ragline.config import load_settings
    from ragline.server import create_app
    from ragline.server.runner import ServerThread

    root = bench_data() / "beir-scifact"
    corpus = home / "corpus.jsonl"
    with (root / "corpus.jsonl").open() as src, corpus.open("w") as dst:
        for n, line in enumerate(src):
            if n >= args.docs:
                break
            dst.write(line)
    queries = [json.loads(line)["text"] for line in (root / "queries.jsonl").open()][:300]
    queries_file = home / "queries.json"
    queries_file.write_text(json.dumps(queries))

    # Tracing off: this measures serving, not the trace writer (``ragline stats --latency``).
    settings = load_settings(home=home, trace={"enabled": False})
    rag = Ragline(settings)
    t0 = time.perf_counter()
    report = rag.ingest([corpus], collection="scifact")
    print(
        f"ingested {report.added} documents ({report.chunks} chunks) in "
        f"{time.perf_counter() - t0:.1f} s"
    )

    def in_process() -> dict[str, float]:
        for q in queries[:20]:
            rag.search(q, collection="scifact", k=10)
        lat = []
        t_start = time.perf_counter()
        for i in range(args.requests):
            t = time.perf_counter()
            rag.search(queries[i % len(queries)], collection="scifact", k=10)
            lat.append(time.perf_counter() - t)
        return summary(lat, time.perf_counter() - t_start)

    rows: list[dict[str, object]] = [
        {"path": "in-process Ragline.search", "clients": 1, **in_process()}
    ]
    app = create_app(settings, rag=rag)
    with ServerThread(app) as server:
        for level in [int(x) for x in args.levels.split(",")]:
            out = run_load(server.url, "scifact", queries_file, level, args.requests)
            rows.append(
                {
                    "path": "HTTP POST /search",
                    "clients": level,
                    "errors": out["errors"],
                    **summary(out["latencies"], out["wall_s"]),
                }
            )
    rows.append({"path": "in-process (again)", "clients": 1, **in_process()})
    rag.close()

    base = (rows[0]["p50_ms"] + rows[-1]["p50_ms"]) / 2  # type: ignore[operator]
    one = next(r for r in rows if r["clients"] == 1 and r["path"].startswith("HTTP"))
    overhead = one["p50_ms"] - base  # type: ignore[operator]
    print(
        f"\nsearch, hybrid, k=10, {args.docs} SciFact documents, {args.requests} requests "
        f"per row, {os.cpu_count()} cores"
    )
    print(f"{'path':28} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for r in rows:
        print(
            f"{r['path']:28} {r['clients']:>7} {r['rps']:>8.1f} {r['p50_ms']:>8.2f} "
            f"{r['p99_ms']:>8.2f} {r.get('errors', ''):>6}"
        )
    print(f"server overhead at 1 client (p50, HTTP minus in-process): {overhead:.2f} ms")
    write_results(
        "server",
        {
            "docs": args.docs,
            "requests_per_level": args.requests,
            "mode": "hybrid",
            "k": 10,
            "rows": rows,
            "overhead_p50_ms": overhead,
        },
    )


if __name__ == "__main__":
    if "--load" in sys.argv:
        p = argparse.ArgumentParser()
        p.add_argument("--load")
        p.add_argument("--collection")
        p.add_argument("--queries-file")
        p.add_argument("--concurrency", type=int)
        p.add_argument("--requests", type=int)
        load_main(p.parse_args())
    else:
        main()
