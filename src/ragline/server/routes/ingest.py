"""Ingestion over HTTP: file uploads (multipart) and JSON documents.

Uploaded files are kept under ``<uploads_dir>/<collection>/`` and ingested from there, so the
same file uploaded again is recognised as unchanged, and a changed one updates its document.
JSON documents become one small JSONL file each (``documents/<id>.jsonl``): re-sending an id
updates that document. The collection is created on first use, as ``ragline ingest`` does.
Refusals are problems: 415 for a type ragline cannot read, 413 for a file over
``ingest.max_file_bytes``, 422 when nothing in the request could be ingested.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.concurrency import run_in_threadpool

from ragline.errors import (
    FileTooLargeError,
    IngestError,
    InvalidQueryError,
    UnsupportedFileError,
)
from ragline.ingest.loaders import SUPPORTED_SUFFIXES
from ragline.server.auth import Principal, need_collection
from ragline.server.context import ServerContext, get_context
from ragline.server.schemas import (
    BODY_ERRORS,
    COLLECTION_NAME,
    DocumentsIn,
    IngestOut,
    problems,
)
from ragline.types import IngestReport

router = APIRouter(
    prefix="/api/collections", tags=["ingest"], responses=problems(*BODY_ERRORS, 404, 415, 503)
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def _folder(ctx: ServerContext, collection: str) -> Path:
    if not re.match(COLLECTION_NAME, collection):
        raise InvalidQueryError(
            f"{collection!r} cannot take uploads: collection names for uploads are letters, "
            "digits, '.', '_' and '-' (64 at most)",
            hint="create a collection with such a name, or ingest with `ragline ingest`",
        )
    return ctx.uploads_dir / collection


def safe_filename(name: str) -> str:
    """The last path part of an uploaded name, with unusual characters replaced."""
    base = Path(name.replace("\\", "/")).name.strip()
    cleaned = _UNSAFE.sub("_", base).strip(". ")
    return cleaned[:180] or "upload"


def _finish(report: IngestReport, n_inputs: int) -> dict[str, Any]:
    if (
        report.failed
        and not (report.added or report.updated or report.unchanged)
        and (len(report.failed) >= n_inputs and not report.duplicates)
    ):
        first = report.failed[0]
        more = f" (and {len(report.failed) - 1} more)" if len(report.failed) > 1 else ""
        raise IngestError(
            Path(first.source).name,
            first.reason + more,
            hint="nothing was ingested: fix the input (supported: "
            + ", ".join(sorted(SUPPORTED_SUFFIXES))
            + ")",
        )
    out = report.to_dict()
    out["failed"] = [{"source": Path(f.source).name, "reason": f.reason} for f in report.failed]
    return out


@router.post("/{name}/files", response_model=IngestOut)
async def upload_files(
    name: str,
    files: list[UploadFile] = File(
        ..., min_length=1, description="documents: .txt .md .html .pdf .jsonl"
    ),
    principal: Principal = Depends(need_collection("ingest")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Upload and ingest files into a collection (created if needed)."""
    folder = _folder(ctx, name)
    limit = ctx.settings.ingest.max_file_bytes
    staged: list[tuple[UploadFile, str]] = []
    for upload in files:
        filename = safe_filename(upload.filename or "upload")
        suffix = Path(filename).suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES:
            raise UnsupportedFileError(
                filename,
                f"unsupported file type {suffix or '(no suffix)'!r}",
                hint="upload one of: " + ", ".join(sorted(SUPPORTED_SUFFIXES)),
            )
        if upload.size is not None and upload.size > limit:
            raise FileTooLargeError(
                filename,
                f"{upload.size:,} bytes is over the {limit:,}-byte limit",
                hint="split the file, or raise RAGLINE_INGEST__MAX_FILE_BYTES",
            )
        staged.append((upload, filename))

    def save_and_ingest() -> dict[str, Any]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for upload, filename in staged:
            target = folder / filename
            tmp = target.with_name(f".{filename}.part")
            upload.file.seek(0)
            with tmp.open("wb") as out:
                shutil.copyfileobj(upload.file, out, 1 << 20)
            tmp.replace(target)
            paths.append(target)
        return _finish(ctx.rag.ingest(paths, collection=name), len(paths))

    return await run_in_threadpool(save_and_ingest)


@router.post("/{name}/documents", response_model=IngestOut)
async def add_documents(
    name: str,
    body: DocumentsIn,
    principal: Principal = Depends(need_collection("ingest")),
    ctx: ServerContext = Depends(get_context),
) -> dict[str, Any]:
    """Ingest documents given as JSON (``id``, ``text``, optional ``title`` and ``metadata``)."""
    folder = _folder(ctx, name) / "documents"
    cfg = ctx.settings.ingest
    ids = [d.id for d in body.documents]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InvalidQueryError(f"document id {dup!r} appears twice", hint="ids must be unique")

    def write_and_ingest() -> dict[str, Any]:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for doc in body.documents:
            digest = hashlib.sha256(doc.id.encode()).hexdigest()[:12]
            target = folder / f"{safe_filename(doc.id)[:60]}-{digest}.jsonl"
            record = {
                **doc.metadata,
                cfg.jsonl_id_field: doc.id,
                cfg.jsonl_title_field: doc.title,
                cfg.jsonl_text_field: doc.text,
            }
            target.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
            paths.append(target)
        return _finish(ctx.rag.ingest(paths, collection=name), len(paths))

    return await run_in_threadpool(write_and_ingest)
