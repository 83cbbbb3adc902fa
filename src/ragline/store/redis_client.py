"""One way to reach Redis (``settings.redis``): the client, its URL check, its errors.

:func:`connect` builds a ``redis.Redis`` from :class:`~ragline.config.RedisSettings` (timeouts,
pool size, one quick retry so a connection dropped by a Redis restart is replaced on the next
command). :func:`check_reachable` answers at startup: a wrong URL or a Redis that does not
answer is one :class:`~ragline.errors.RedisUnavailableError` saying what to check. While
serving, :func:`unavailable` turns any connection error or timeout into the same error (a 503
problem); nothing is cached about the failure, so the next request after Redis is back
simply works.

The ``redis`` package is the ``ragline[redis]`` extra: imported only when a Redis URL is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ragline.errors import ConfigError, MissingDependencyError, RedisUnavailableError

if TYPE_CHECKING:
    from ragline.config import RedisSettings

SCHEMES = ("redis", "rediss", "unix")


def display_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{user}:***@{host}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def check_url(url: str) -> str:
    """``url`` when it is a Redis URL, else a :class:`ConfigError` saying how to write one."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or (scheme != "unix" and not parts.hostname):
        raise ConfigError(
            f"redis.url {display_url(url)!r} is not a Redis URL",
            hint="write redis://HOST:PORT/DB (rediss:// for TLS, unix:///path/redis.sock), "
            "e.g. RAGLINE_REDIS__URL=redis://127.0.0.1:6379/0, or unset it to keep limits "
            "in this process",
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        raise ConfigError(
            f"redis.url {display_url(url)!r} has a bad port ({exc})",
            hint="write redis://HOST:PORT/DB with a numeric port (6379 by default)",
        ) from exc
    return url


def _redis_module() -> Any:
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - the extra is installed in dev and CI
        raise MissingDependencyError(
            "redis.url is set, and the Redis client is not installed",
            hint="pip install 'ragline[redis]'",
        ) from exc
    return redis


def connect(cfg: RedisSettings) -> Any:
    """A ``redis.Redis`` client for ``cfg.url`` (which must be set); connects lazily."""
    if not cfg.url:
        raise ConfigError("redis.url is not set", hint="set RAGLINE_REDIS__URL=redis://HOST:PORT/0")
    url = check_url(cfg.url)
    redis = _redis_module()
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=cfg.connect_timeout_s,
        socket_timeout=cfg.socket_timeout_s,
        max_connections=cfg.max_connections,
        # One retry: a pooled connection that a Redis restart dropped is replaced at once;
        # a Redis that is down still fails within about two connect timeouts.
        retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), 1),
        health_check_interval=30,
    )


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` means Redis could not be reached (down, refused, timed out)."""
    redis = _redis_module()
    return isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError))


def unavailable(url: str, exc: BaseException, *, what: str) -> RedisUnavailableError:
    """The error to raise when Redis at ``url`` did not answer while doing ``what``."""
    return RedisUnavailableError(
        f"Redis at {display_url(url)} is unreachable, so {what} cannot be checked "
        f"({type(exc).__name__}: {exc})",
        hint="check that Redis is running and reachable from this server, and that "
        "redis.url (RAGLINE_REDIS__URL) names it; requests succeed again as soon as it answers",
    )


def check_reachable(client: Any, url: str, *, what: str) -> None:
    """PING once (at startup): a clear error now rather than on the first request."""
    redis = _redis_module()
    try:
        client.ping()
    except redis.exceptions.AuthenticationError as exc:
        raise ConfigError(
            f"Redis at {display_url(url)} refused the credentials of redis.url ({exc})",
            hint="put the right password in redis.url (redis://:PASSWORD@HOST:PORT/0)",
        ) from exc
    except redis.exceptions.ResponseError as exc:  # e.g. a db number the server lacks
        raise ConfigError(
            f"Redis at {display_url(url)} refused the connection of redis.url ({exc})",
            hint="check the database number and the user in redis.url",
        ) from exc
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise unavailable(url, exc, what=what) from exc


__all__ = [
    "SCHEMES",
    "check_reachable",
    "check_url",
    "connect",
    "display_url",
    "is_connection_error",
    "unavailable",
]
