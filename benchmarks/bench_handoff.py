"""What the human handoff inbox costs: store operations on a full inbox, and the user's poll
for the person's reply over a real server with API keys.

**Store** (SQLite, the store's own file): an inbox of ``--items`` items (a third answered, a
third closed), then each operation timed one call at a time: ``open_item``, ``reply``,
``add_message``, ``messages_since`` with nothing new (what almost every poll is),
``get_item`` (a thread of 5), the operator's first page of open items and a deep page.

**Poll over HTTP**: a live server (uvicorn, keys required) and one key that owns an item;
``GET /api/handoff/{id}/messages?after=N`` ``--polls`` times in a row on one connection
(the web UI polls every 3 s), then the same from ``--users`` threads at once (throughput).

    python benchmarks/bench_handoff.py [--items 5000] [--polls 300] [--users 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from _common import percentile, write_results

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed(fn: Callable[[], Any], n: int) -> dict[str, float]:
    """p50/p95/p99 in milliseconds of ``n`` calls of ``fn``."""
    ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    return {
        "n": n,
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
    }


def bench_store(home: Path, items: int) -> dict[str, Any]:
    from ragline.config import load_settings
    from ragline.store.factory import open_handoffs
    from ragline.store.handoff_base import HandoffQuery

    store = open_handoffs(load_settings(home=home))
    try:
        t0 = time.perf_counter()
        ids = [
            store.open_item(question=f"question {i}", collection="docs", owner="k1").id
            for i in range(items)
        ]
        fill_s = time.perf_counter() - t0
        for n, item_id in enumerate(ids):
            if n % 3 == 1:
                store.reply(item_id, "answered", author="ana")
            elif n % 3 == 2:
                store.close_item(item_id, author="ana")
        target = ids[3]  # an open one (n % 3 == 0)
        store.reply(target, "first", author="ana")
        store.add_message(target, "thanks")
        counter = iter(range(10**9))
        out = {
            "items": items,
            "fill_items_per_s": round(items / fill_s, 1),
            "open_item": timed(
                lambda: store.open_item(question=f"q{next(counter)}", collection="docs"), 200
            ),
            "reply": timed(lambda: store.reply(target, "more", author="ana"), 200),
            "add_message": timed(lambda: store.add_message(target, "and more"), 200),
        }
        last = store.messages_since(target)[-1].seq
        out["messages_since_nothing_new"] = timed(lambda: store.messages_since(target, last), 500)
        short = ids[0]
        out["get_item_thread_of_2"] = timed(lambda: store.get_item(short), 500)
        out["long_thread_messages"] = last
        out["get_item_long_thread"] = timed(lambda: store.get_item(target), 100)
        out["list_open_first_page_50"] = timed(lambda: store.list_items(HandoffQuery()), 200)
        deep = HandoffQuery(status=None, offset=max(items - 100, 0), limit=50)
        out["list_all_deep_page_50"] = timed(lambda: store.list_items(deep), 100)
        return out
    finally:
        store.close()


def bench_poll(home: Path, polls: int, users: int) -> dict[str, Any]:
    from ragline.api import Ragline
    from ragline.models.gateway import Gateway
    from ragline.store.factory import open_keys
    from ragline.testing.chat_conformance import FakeChatModel
    from ragline.testing.live_server import running_server, server_settings

    settings = server_settings(home, trace={"enabled": False})
    keys = open_keys(settings)
    try:
        made = keys.create_key("user", "read", ["docs"])
    finally:
        keys.close()
    with Ragline(settings) as rag:
        item = rag.handoffs.open_item(question="q", collection="docs", owner=made.key.id)
    gateway = Gateway(settings, models={"embedded": FakeChatModel(["x"])})
    headers = {"Authorization": f"Bearer {made.secret}"}
    path = f"/api/handoff/{item.id}/messages?after=2"
    with running_server(settings, gateway=gateway) as live:
        with httpx.Client(base_url=live.url, headers=headers, timeout=30) as client:
            assert client.get(path).status_code == 200
            one = timed(lambda: client.get(path).raise_for_status(), polls)
        errors: list[int] = []
        done = [0]
        lock = threading.Lock()

        def user() -> None:
            with httpx.Client(base_url=live.url, headers=headers, timeout=30) as c:
                for _ in range(polls // users or 1):
                    r = c.get(path)
                    with lock:
                        done[0] += 1
                        if r.status_code != 200:
                            errors.append(r.status_code)

        threads = [threading.Thread(target=user) for _ in range(users)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    return {
        "sequential": one,
        "concurrent": {
            "users": users,
            "requests": done[0],
            "errors": len(errors),
            "requests_per_s": round(done[0] / wall, 1),
            "users_at_one_poll_per_3s": int(done[0] / wall * 3),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--polls", type=int, default=300)
    ap.add_argument("--users", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = bench_store(Path(tmp) / "store", args.items)
        poll = bench_poll(Path(tmp) / "server", args.polls, args.users)
    print(f"inbox of {store['items']} items, filled at {store['fill_items_per_s']} items/s")
    print(f"{'operation':32} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    rows = {k: v for k, v in store.items() if isinstance(v, dict)}
    rows["HTTP poll (keyed server)"] = poll["sequential"]
    for name, t in rows.items():
        print(f"{name:32} {t['p50_ms']:8.3f} {t['p95_ms']:8.3f} {t['p99_ms']:8.3f}")
    c = poll["concurrent"]
    print(
        f"{c['users']} polling clients at once: {c['requests_per_s']} requests/s, "
        f"{c['errors']} errors: room for ~{c['users_at_one_poll_per_3s']} users polling every 3 s"
    )
    write_results("handoff", {"store": store, "poll": poll, "args": vars(args)})


if __name__ == "__main__":
    main()
