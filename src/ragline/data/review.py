"""Review files of synthetic QA: decisions applied one way, by the CLI and the web UI alike.

``ragline data synth -o DIR/review.jsonl`` writes the pairs to review (``"review": null``).
Two front ends mark them: ``ragline data review FILE --accept ID --reject ID`` and the web
UI's Review page (``/api/review``, when ``server.review_dir`` names ``DIR``). Both go
through :func:`decide_file`, so a file and its data card change the same way whoever
decided:

* the file is read leniently (:func:`~ragline.data.records.read_records`); a malformed line is
  reported with its line number and kept **verbatim** when the file is written back, so no
  stored line is lost, not even one that could not be read;
* :func:`~ragline.data.synth.apply_review` marks the items (the one place that does);
* the file is replaced atomically (a temporary file in the same folder, ``fsync``, then a
  rename): a process killed mid-write leaves the old file or the new one, never half of one;
* the card gets a ``review`` step (its history carried on, ``ragline.data.card``);
* all of it happens under a lock on the file (a thread lock and an ``flock`` on a
  ``.NAME.lock`` file beside it), so two browsers, two server replicas or the CLI deciding
  at the same time never lose each other's decisions: each re-reads the file under the lock.

The CLI is strict (an unknown id is an error, nothing is written); the server is lenient
(``strict=False``): each unknown id, or one both accepted and rejected, is reported in
``errors`` and the rest is applied.

:class:`ReviewFolder` serves the ``*.jsonl`` files directly in one folder to the server
(:class:`ragline.server.review.ReviewFiles`): a name is a plain file name; ``..``, a path, an
absolute name or a link leading out of the folder is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragline.data.records import RecordFile, read_records, write_atomic
from ragline.errors import DatasetError, PermissionDeniedError, ResourceNotFoundError

if TYPE_CHECKING:
    from ragline.config import Settings

#: The states of an item, as the API filters them (``review`` null is pending).
REVIEW_STATES = ("pending", "accepted", "rejected")
#: A review file's name: a plain ``*.jsonl`` file name, no folder, nothing hidden.
REVIEW_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}\.jsonl")

_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def review_lock(path: Path | str) -> Iterator[None]:
    """Hold the file's lock: in this process (a thread lock) and across processes (``flock``
    on ``.NAME.lock`` beside it, where the platform has ``fcntl``)."""
    path = Path(path).resolve()
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(str(path), threading.Lock())
    with lock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: this process's lock only
            yield
            return
        fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock


def _read_consistent(path: Path) -> tuple[RecordFile, bytes]:
    """The parsed file and its raw bytes, of one and the same version."""
    for _ in range(5):
        raw = path.read_bytes() if path.is_file() else b""
        data = read_records(path, require_text=False)
        if hashlib.sha256(raw).hexdigest() == data.sha256:
            return data, raw
    raise DatasetError(f"{path} keeps changing while being read", hint="try again")


def _render(data: RecordFile, raw: bytes, items: Sequence[dict[str, Any]]) -> bytes:
    """The file again: each record as JSON (as decided), each malformed line as it was."""
    by_line = {r.line: item for r, item in zip(data.records, items, strict=True)}
    bad = {b.line for b in data.bad}
    out: list[bytes] = []
    for n, line in enumerate(raw.split(b"\n"), start=1):
        if n in by_line:
            out.append(json.dumps(by_line[n], ensure_ascii=False).encode("utf-8"))
        elif n in bad:
            out.append(line.rstrip(b"\r"))
    return b"".join(line + b"\n" for line in out)


def review_counts(items: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(REVIEW_STATES, 0)
    for it in items:
        value = it.get("review")
        key = "pending" if value is None else str(value)
        counts[key] = counts.get(key, 0) + 1
    return counts


@dataclass(slots=True)
class ReviewOutcome:
    """What :func:`decide_file` did: the file's counts and version (sha256) afterwards,
    each decision applied (``id``, ``review``, ``was``) and each refused (``id``, ``error``)."""

    path: Path
    items: list[dict[str, Any]]
    counts: dict[str, int]
    version: str
    applied: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    bad_lines: list[dict[str, Any]] = field(default_factory=list)
    written: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "version": self.version,
            "applied": self.applied,
            "errors": self.errors,
            "bad_lines": self.bad_lines,
            "written": self.written,
        }


def _lenient(
    known: set[str], accept: Sequence[str], reject: Sequence[str]
) -> tuple[list[str], list[str], list[dict[str, str]]]:
    errors: list[dict[str, str]] = []
    both = set(accept) & set(reject)
    for i in dict.fromkeys([*accept, *reject]):
        if i not in known:
            errors.append({"id": i, "error": "no item with this id in the file"})
        elif i in both:
            errors.append({"id": i, "error": "both accepted and rejected: neither applied"})
    ok = known - both
    return [i for i in accept if i in ok], [i for i in reject if i in ok], errors


def decide_file(
    path: Path | str,
    *,
    accept: Sequence[str] = (),
    reject: Sequence[str] = (),
    accept_rest: bool = False,
    reject_rest: bool = False,
    note: str | None = None,
    by: str | None = None,
    strict: bool = True,
) -> ReviewOutcome:
    """Apply review decisions to a review file and its card (see the module docstring).

    With nothing to decide it only reads. ``strict``: an unknown id raises
    :class:`~ragline.errors.DatasetError` and nothing is written (the CLI); otherwise each
    bad id is reported in ``errors`` and the rest applied (the server)."""
    from ragline.data.synth import apply_review

    path = Path(path)
    accept, reject = list(dict.fromkeys(accept)), list(dict.fromkeys(reject))
    deciding = bool(accept or reject or accept_rest or reject_rest)
    lock = review_lock(path) if deciding else contextlib.nullcontext()
    with lock:
        data, raw = _read_consistent(path)
        items = [r.data for r in data.records]
        before = {str(it.get("id")): it.get("review") for it in items}
        errors: list[dict[str, str]] = []
        if not strict:
            accept, reject, errors = _lenient(set(before), accept, reject)
        counts = apply_review(
            items,
            accept=accept,
            reject=reject,
            accept_rest=accept_rest,
            reject_rest=reject_rest,
        )
        outcome = ReviewOutcome(
            path,
            items,
            counts,
            data.sha256,
            errors=errors,
            bad_lines=[b.to_dict() for b in data.bad],
        )
        decided = set(accept) | set(reject)
        for it in items:
            i = str(it.get("id"))
            if i in decided or ((accept_rest or reject_rest) and before.get(i) is None):
                was = before.get(i) if before.get(i) in ("accepted", "rejected") else None
                outcome.applied.append({"id": i, "review": it.get("review"), "was": was})
        if not (accept or reject or accept_rest or reject_rest):
            return outcome
        from ragline.data.card import CardStep, FileRef, start_card, write_card

        card = start_card(f"review of {path}", data)  # the file's card so far goes in it
        body = _render(data, raw, items)
        write_atomic(path, body)
        outcome.version = hashlib.sha256(body).hexdigest()
        outcome.written = True
        params: dict[str, Any] = {
            "accepted_now": len(accept),
            "rejected_now": len(reject),
            "accept_rest": accept_rest,
            "reject_rest": reject_rest,
        }
        if note:
            params["note"] = note
        if by:
            params["by"] = by
        notes: dict[str, Any] = dict(counts)
        if errors:
            notes["refused"] = errors[:100]
        card.steps.append(CardStep("review", params, len(items), len(items), notes=notes))
        card.outputs.append(FileRef(str(path), outcome.version, len(items)))
        write_card(card, path)
    return outcome


# --------------------------------------------------------------------------- the server's view


def _highlight(item: dict[str, Any], passage: str) -> list[int] | None:
    """Where in the passage the pair's evidence is: the item's own ``span`` ([start, end]),
    else its ``evidence`` text, else the answer, found in the passage (case-insensitive)."""
    span = item.get("span")
    if (
        isinstance(span, list | tuple)
        and len(span) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in span)
        and 0 <= span[0] < span[1] <= len(passage)
    ):
        return [span[0], span[1]]
    low = passage.lower()
    for key in ("evidence", "answer"):
        text = item.get(key)
        if isinstance(text, str) and text.strip():
            at = low.find(text.strip().lower())
            if at >= 0:
                return [at, at + len(text.strip())]
    return None


def item_view(item: dict[str, Any], line: int) -> dict[str, Any]:
    """What the Review page shows of one item."""
    passage = item.get("source_passage")
    passage = passage if isinstance(passage, str) else ""
    checks = item.get("checks")
    generator = item.get("generator")
    review = item.get("review")
    return {
        "id": str(item.get("id")),
        "line": line,
        "question": str(item.get("question", "")),
        "answer": str(item.get("answer", "")),
        "review": review if review in ("accepted", "rejected") else None,
        "source": item.get("source") if isinstance(item.get("source"), str) else None,
        "chunk_id": item.get("chunk_id") if isinstance(item.get("chunk_id"), str) else None,
        "passage": passage,
        "highlight": _highlight(item, passage),
        "checks": checks if isinstance(checks, dict) else {},
        "generator": generator if isinstance(generator, dict) else None,
    }


class ReviewFolder:
    """The review files of one folder (``server.review_dir``), for the server's
    ``/api/review`` (it is a :class:`ragline.server.review.ReviewFiles`)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    @classmethod
    def from_settings(cls, settings: Settings) -> ReviewFolder | None:
        folder = settings.server.review_dir
        return cls(Path(folder).expanduser()) if folder is not None else None

    def _root(self) -> Path:
        if not self.folder.is_dir():
            raise ResourceNotFoundError(
                f"the review folder {self.folder} does not exist",
                hint="create it (and write review files there with `ragline data synth … "
                f"-o {self.folder}/review.jsonl`), or set server.review_dir to another folder",
            )
        return self.folder.resolve()

    def path_of(self, name: str) -> Path:
        """The file ``name`` names in the folder; refused unless it is a plain ``*.jsonl``
        name of a regular file whose real path is in the folder."""
        if not REVIEW_NAME.fullmatch(name or ""):
            raise ResourceNotFoundError(
                f"no review file named {name!r}: a name is a plain file name ending in .jsonl",
                hint="use a name from GET /api/review (no folders, no '..', nothing absolute)",
            )
        root = self._root()
        path = root / name
        if not path.exists() and not path.is_symlink():
            raise ResourceNotFoundError(
                f"no review file {name!r} in the review folder",
                hint="GET /api/review lists them; write one with `ragline data synth … -o "
                f"{self.folder}/{name}`",
            )
        real = path.resolve()
        if real.parent != root:
            raise PermissionDeniedError(
                f"review file {name!r} is a link to a file outside the review folder",
                hint="copy the file into server.review_dir instead of linking to it",
            )
        if not real.is_file():
            raise ResourceNotFoundError(f"{name!r} in the review folder is not a file")
        return real

    def list_files(self) -> list[dict[str, Any]]:
        root = self._root()
        out: list[dict[str, Any]] = []
        for p in sorted(root.iterdir()):
            if p.name.startswith(".") or not p.name.endswith(".jsonl"):
                continue  # hidden (locks, temporary files) or no data set
            entry: dict[str, Any] = {"name": p.name, **dict.fromkeys(REVIEW_STATES, 0)}
            entry.update(items=0, bad_lines=0, error=None)
            if not REVIEW_NAME.fullmatch(p.name):
                entry["error"] = (
                    "this name cannot be served: rename the file to letters, digits, '.', "
                    "'_' and '-' (up to 200) ending in .jsonl"
                )
                out.append(entry)
                continue
            try:
                path = self.path_of(p.name)
                data = read_records(path, require_text=False)
            except (DatasetError, ResourceNotFoundError, PermissionDeniedError) as exc:
                entry["error"] = exc.message + (f" ({exc.hint})" if exc.hint else "")
                out.append(entry)
                continue
            entry.update(review_counts([r.data for r in data.records]))
            entry.update(items=len(data.records), bad_lines=len(data.bad))
            out.append(entry)
        return out

    def page(
        self, name: str, *, status: str = "pending", limit: int = 50, offset: int = 0
    ) -> dict[str, Any]:
        """One file: its counts, version, malformed lines and a page of its items
        (``status``: pending, accepted, rejected or all), in file order."""
        data = read_records(self.path_of(name), require_text=False)
        items = [r.data for r in data.records]
        chosen = [
            (r, it)
            for r, it in zip(data.records, items, strict=True)
            if status == "all"
            or (it.get("review") is None if status == "pending" else it.get("review") == status)
        ]
        return {
            "name": name,
            "version": data.sha256,
            "counts": review_counts(items),
            "status": status,
            "total": len(chosen),
            "limit": limit,
            "offset": offset,
            "items": [item_view(it, r.line) for r, it in chosen[offset : offset + limit]],
            "bad_lines": [b.to_dict() for b in data.bad],
        }

    def decide(
        self,
        name: str,
        *,
        accept: Sequence[str] = (),
        reject: Sequence[str] = (),
        note: str | None = None,
        by: str | None = None,
    ) -> dict[str, Any]:
        outcome = decide_file(
            self.path_of(name), accept=accept, reject=reject, note=note, by=by, strict=False
        )
        return {"name": name, **outcome.to_dict()}


__all__ = [
    "REVIEW_NAME",
    "REVIEW_STATES",
    "ReviewFolder",
    "ReviewOutcome",
    "decide_file",
    "item_view",
    "review_counts",
    "review_lock",
]
