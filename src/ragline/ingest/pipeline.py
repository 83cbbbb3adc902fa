"""The ingestion pipeline: discover files → detect changes → load & clean → chunk → embed →
index → write, one batch per transaction.

Change detection works at two levels: a file whose bytes hash as before is skipped without
parsing; a document whose cleaned content hashes as before is left alone. A document whose
content already exists under another key is an exact duplicate and is skipped. Because every
batch is written in one transaction, a killed run leaves whole documents only, and running
it again picks up where it stopped. Batches are cut by document count
(``ingest.batch_documents``), also inside a JSONL file of many documents; such a file's hash
is recorded only once its last batch is in, so a run killed part-way through it reads it again
next time and adds just the rest.
"""

from __future__ import annotations

import fnmatch
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ragline.config import Settings
from ragline.errors import ConfigError, FileTooLargeError, IngestError, MalformedInputError
from ragline.guard.pipeline import DOCUMENT_KEY, GuardPipeline
from ragline.ingest.chunking import chunk_document
from ragline.ingest.loaders import SUPPORTED_SUFFIXES, load_file
from ragline.models.embedder import Embedder
from ragline.retrieve.analyzer import Analyzer
from ragline.store.base import DocumentWrite, Store, StoredDocument
from ragline.types import (
    Chunk,
    IngestFailure,
    IngestReport,
    LoadedDocument,
    content_hash,
    document_id,
)


@dataclass(frozen=True, slots=True)
class IngestEvent:
    """Progress report: one per file handled (``total`` files in this run), and one per
    batch written while a many-document file (JSONL) is still being read."""

    path: str
    status: str  # added / updated / unchanged / duplicate / failed; "writing" mid-file
    done: int  # files finished
    total: int
    documents: int = 0  # documents added or updated so far in this run


ProgressCallback = Callable[[IngestEvent], None]


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def discover(
    paths: Sequence[Path | str],
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> tuple[list[Path], list[IngestFailure]]:
    """Files under ``paths`` (recursive) that match ``include`` and not ``exclude``.

    Globs match the path relative to the folder given, or the file name. Without ``include``,
    every file with a supported suffix is taken. Hidden files and folders are skipped.
    """
    files: list[Path] = []
    failures: list[IngestFailure] = []
    for raw in paths:
        root = Path(raw).expanduser()
        if root.is_file():
            candidates = [(root, root.name)]
        elif root.is_dir():
            candidates = []
            for p in sorted(root.rglob("*")):
                rel = p.relative_to(root)
                if any(part.startswith(".") for part in rel.parts) or not p.is_file():
                    continue
                candidates.append((p, rel.as_posix()))
        else:
            failures.append(IngestFailure(str(root), "no such file or folder"))
            continue
        explicit = root.is_file()
        for p, rel in candidates:

            def matches(globs: Sequence[str], rel: str = rel, name: str = p.name) -> bool:
                return any(fnmatch.fnmatch(rel, g) or fnmatch.fnmatch(name, g) for g in globs)

            if include and not matches(include):
                continue
            if exclude and matches(exclude):
                continue
            if not include and not explicit and p.suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            files.append(p.resolve())
    return list(dict.fromkeys(files)), failures


class Ingestor:
    """Ingests files into one collection of a store."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        embedder: Embedder | Callable[[], Embedder],
        analyzer: Analyzer | None = None,
        guard: GuardPipeline | None = None,
    ) -> None:
        self.store = store
        #: Document guards scan every chunk (``guard.documents``); a flagged one keeps the
        #: finding in ``metadata["guard"]``. None: no scan.
        self.guard = guard
        self.settings = settings
        self._embedder_arg = embedder
        self._embedder: Embedder | None = embedder if isinstance(embedder, Embedder) else None
        self.analyzer = analyzer or Analyzer(
            settings.retrieval.bm25_stemmer, settings.retrieval.bm25_stopwords
        )

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = self._embedder_arg()  # type: ignore[operator]
        return self._embedder

    # --------------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[Path | str],
        *,
        collection: str,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = False,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport(collection=collection)
        files, failures = discover(paths, include, exclude)
        report.failed.extend(failures)
        self.store.create_collection(collection)
        self._check_embedder(collection)
        existing = self.store.documents(collection)
        by_file: dict[str, list[StoredDocument]] = {}
        for doc in existing.values():
            by_file.setdefault(doc.source, []).append(doc)
        seen_hashes: dict[str, str] = {}
        size = self.settings.ingest.batch_documents
        run = _Batches(self, collection, report, size, progress)
        for n, path in enumerate(files, start=1):
            run.position = IngestEvent(str(path), "writing", n - 1, len(files))
            status = self._handle_file(path, collection, existing, by_file, seen_hashes, run)
            if progress:
                written = report.added + report.updated
                progress(IngestEvent(str(path), status, n, len(files), written))
        if files:
            run.position = IngestEvent(str(files[-1]), "writing", len(files), len(files))
        run.flush()
        if prune:
            gone = [d.key for d in existing.values() if not Path(d.source).exists()]
            report.pruned = self.store.delete_documents(collection, gone)
        report.seconds = time.perf_counter() - started
        return report

    def _check_embedder(self, collection: str) -> None:
        stored = self.store.embedder_of(collection)
        name = self.embedder.name
        if stored is None:
            self.store.set_embedder(collection, name)
        elif stored != name:
            raise ConfigError(
                f"collection {collection!r} holds vectors of {stored!r}, not of {name!r}",
                hint="ingest into a new collection, or configure the embedder it was built with",
            )

    def _handle_file(
        self,
        path: Path,
        collection: str,
        existing: dict[str, StoredDocument],
        by_file: dict[str, list[StoredDocument]],
        seen_hashes: dict[str, str],
        run: _Batches,
    ) -> str:
        report = run.report
        source = str(path)
        try:
            size = path.stat().st_size
            limit = self.settings.ingest.max_file_bytes
            if size > limit:
                raise FileTooLargeError(
                    source,
                    f"{size:,} bytes is over the {limit:,}-byte limit",
                    hint="raise RAGLINE_INGEST__MAX_FILE_BYTES or split the file",
                )
            fhash = _file_hash(path)
        except IngestError as exc:
            report.failed.append(IngestFailure(source, exc.reason))
            return "failed"
        except OSError as exc:
            report.failed.append(IngestFailure(source, f"cannot read the file: {exc.strerror}"))
            return "failed"
        previous = by_file.get(source, [])
        if previous and all(d.file_hash == fhash for d in previous):
            report.unchanged += len(previous)
            return "unchanged"
        try:
            result = load_file(path, self.settings.ingest)
        except IngestError as exc:
            report.failed.append(IngestFailure(exc.source, exc.reason))
            return "failed"
        except Exception as exc:  # a loader bug must not stop the batch
            err = MalformedInputError(source, f"could not be parsed: {exc!r}")
            report.failed.append(IngestFailure(err.source, err.reason))
            return "failed"
        report.failed.extend(result.failures)
        # A many-document file (JSONL) may be written over several batches: its documents
        # carry no file hash until the last batch is in, so a run killed in between reads
        # the file again next time (its written documents are then unchanged, not re-embedded).
        whole = len(result.documents) == 1
        statuses = set()
        keys_now = set()
        for doc in result.documents:
            keys_now.add(doc.key)
            chash = doc.content_hash
            old = existing.get(doc.key)
            if old is not None and old.content_hash == chash:
                report.unchanged += 1
                statuses.add("unchanged")
                continue
            dup_of = seen_hashes.get(chash)
            if dup_of is None:
                stored_key = self.store.find_by_content_hash(collection, chash)
                if stored_key is not None and stored_key != doc.key:
                    dup_of = stored_key
            if dup_of is not None and dup_of != doc.key:
                report.duplicates += 1
                statuses.add("duplicate")
                continue
            seen_hashes[chash] = doc.key
            run.add(doc, fhash if whole else None, old is not None)
            statuses.add("updated" if old is not None else "added")
        # Documents that disappeared from a changed multi-document file (JSONL).
        vanished = [d.key for d in previous if d.key not in keys_now]
        if vanished and not result.failures:
            self.store.delete_documents(collection, vanished)
        if not whole and not result.failures:
            run.mark_whole(source, fhash)
        for s in ("failed", "updated", "added", "duplicate", "unchanged"):
            if s in statuses:
                return s
        return "failed" if result.failures else "unchanged"

    def _scanned(self, chunk: Chunk, collection: str) -> Chunk:
        """The chunk with its document guards' finding in its metadata, if any."""
        assert self.guard is not None
        return _noted(chunk, self.guard.document_flag(chunk.text, collection))

    def _flush(
        self,
        collection: str,
        pending: list[tuple[LoadedDocument, str | None, bool]],
        report: IngestReport,
    ) -> None:
        if not pending:
            return
        cfg = self.settings.chunking
        embedder = self.embedder
        writes: list[DocumentWrite] = []
        texts: list[str] = []
        for doc, fhash, _ in pending:
            doc_id = document_id(collection, doc.key)
            drafts = chunk_document(
                doc,
                embedder.count_tokens,
                max_tokens=cfg.max_tokens,
                overlap_tokens=cfg.overlap_tokens,
                contextual=cfg.contextual,
            )
            chunks = [
                Chunk(
                    id=content_hash(f"{doc_id}\x00{i}\x00{d.text}")[:24],
                    document_id=doc_id,
                    ordinal=i,
                    text=d.text,
                    source=doc.source,
                    title=doc.title,
                    heading_path=tuple(d.heading_path),
                    page=d.page,
                    char_start=d.char_start,
                    char_end=d.char_end,
                    token_count=d.token_count,
                    document_key=doc.key,
                )
                for i, d in enumerate(drafts)
            ]
            if self.guard is not None and self.guard.active("document"):
                chunks = [self._scanned(c, collection) for c in chunks]
            indexed = [c.indexed_text(cfg.contextual) for c in chunks]
            texts.extend(indexed)
            writes.append(
                DocumentWrite(
                    key=doc.key,
                    source=doc.source,
                    title=doc.title,
                    content_hash=doc.content_hash,
                    chunks=chunks,
                    embeddings=None,  # type: ignore[arg-type]  # filled below
                    term_freqs=[self.analyzer.term_freqs(t) for t in indexed],
                    file_hash=fhash,
                    metadata=doc.metadata,
                )
            )
        vectors = embedder.embed(texts)
        offset = 0
        for w in writes:
            w.embeddings = vectors[offset : offset + len(w.chunks)]
            offset += len(w.chunks)
        self.store.write_documents(collection, writes)
        for (_, _, is_update), w in zip(pending, writes, strict=True):
            if is_update:
                report.updated += 1
            else:
                report.added += 1
            report.chunks += len(w.chunks)
            report.flagged_chunks += sum(DOCUMENT_KEY in c.metadata for c in w.chunks)
        pending.clear()


def _noted(chunk: Chunk, finding: dict[str, object] | None) -> Chunk:
    return (
        chunk
        if finding is None
        else replace(chunk, metadata={**chunk.metadata, DOCUMENT_KEY: finding})
    )


class _Batches:
    """The documents of one run waiting to be embedded and committed, a batch at a time
    (also in the middle of a JSONL file of a million documents), and the file hashes to
    record once a many-document file's last batch is in."""

    def __init__(
        self,
        ingestor: Ingestor,
        collection: str,
        report: IngestReport,
        size: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.ingestor = ingestor
        self.collection = collection
        self.report = report
        self.size = size
        self.progress = progress
        #: The event a write reports: the file being read and how many are done.
        self.position: IngestEvent | None = None
        self.pending: list[tuple[LoadedDocument, str | None, bool]] = []
        self.whole: dict[str, str] = {}  # source -> file hash, recorded after the next flush

    def add(self, doc: LoadedDocument, file_hash: str | None, is_update: bool) -> None:
        self.pending.append((doc, file_hash, is_update))
        if len(self.pending) >= self.size:
            self.flush()

    def mark_whole(self, source: str, file_hash: str) -> None:
        """Every document of ``source`` has been added: record its hash after they are in."""
        self.whole[source] = file_hash

    def flush(self) -> None:
        if self.pending:
            self.ingestor._flush(self.collection, self.pending, self.report)
            if self.progress is not None and self.position is not None:
                written = self.report.added + self.report.updated
                self.progress(replace(self.position, documents=written))
        if self.whole:
            self.ingestor.store.set_file_hashes(self.collection, self.whole)
            self.whole = {}


def iter_failures(report: IngestReport) -> Iterable[str]:
    for f in report.failed:
        yield f"{f.source}: {f.reason}"
