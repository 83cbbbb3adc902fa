"""Review of synthetic QA pairs over HTTP: what the server needs from a folder of review files.

The files, their format and the one code path that applies decisions belong to dataset
engineering (``ragline.data.review``), a layer above the server; the server only knows the
:class:`ReviewFiles` Protocol, and whoever builds the app passes one:
``create_app(review=ReviewFolder(folder))``. ``ragline serve`` and
``ragline.testing.live_server`` do so when ``server.review_dir`` is set. Unset, every
``/api/review`` route answers 404 with the hint that turns the feature on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ragline.errors import PermissionDeniedError, ResourceNotFoundError
from ragline.server.auth import Principal

#: Review files belong to no single collection: their keys must reach every collection.
REVIEW_ROLE = "admin"


@runtime_checkable
class ReviewFiles(Protocol):
    """A folder of review files (``ragline.data.review.ReviewFolder``).

    Names are plain file names of the folder; anything else (``..``, a path, an absolute
    name, a link leading out of the folder) raises ``ResourceNotFoundError`` or
    ``PermissionDeniedError``. The conformance suite is
    ``ragline.testing.review_conformance``."""

    def list_files(self) -> list[dict[str, Any]]:
        """Each ``*.jsonl`` file: name, items, pending, accepted, rejected, bad_lines, error."""
        ...

    def page(self, name: str, *, status: str, limit: int, offset: int) -> dict[str, Any]:
        """One file's counts, version, malformed lines and a page of items of ``status``."""
        ...

    def decide(
        self,
        name: str,
        *,
        accept: Sequence[str],
        reject: Sequence[str],
        note: str | None,
        by: str | None,
    ) -> dict[str, Any]:
        """Apply decisions (unknown ids reported per id, the rest applied), atomically and
        without losing a concurrent caller's decisions."""
        ...


def check_name(name: str) -> str:
    """Refuse what can only be a path before the folder sees it (it checks again, fully)."""
    if not name or name.startswith(".") or "/" in name or "\\" in name or ":" in name:
        raise ResourceNotFoundError(
            f"no review file named {name!r}: a name is a plain file name ending in .jsonl",
            hint="use a name from GET /api/review (no folders, no '..', nothing absolute)",
        )
    return name


def reviewer(principal: Principal) -> str:
    """Who decided, for the data card: the key's name and id, or the open server."""
    key = principal.key
    return f"{key.name} (key {key.id})" if key is not None else "open server (no key)"


def check_reach(principal: Principal) -> None:
    """A review file mixes passages of any collection: only a key for all of them reviews."""
    if not principal.may_read(None):
        raise PermissionDeniedError(
            "review files hold passages of any collection: this key is limited to some",
            hint="use an admin key for every collection (`ragline keys create --role admin`)",
        )


def review_files(review: ReviewFiles | None, review_dir: object) -> ReviewFiles:
    """The server's review files, or the 404 that says how to turn the feature on."""
    if review is not None:
        return review
    if review_dir is None:
        raise ResourceNotFoundError(
            "reviewing synthetic QA is off on this server (server.review_dir is not set)",
            hint="set server.review_dir (RAGLINE_SERVER__REVIEW_DIR) to the folder of your "
            "review files (`ragline data synth … -o DIR/review.jsonl`) and restart the server",
        )
    raise ResourceNotFoundError(
        f"server.review_dir is {review_dir}, but this app was built without review files",
        hint="start it with `ragline serve`, or build it with "
        "create_app(review=ReviewFolder(review_dir))",
    )


__all__ = ["REVIEW_ROLE", "ReviewFiles", "check_name", "check_reach", "review_files", "reviewer"]
