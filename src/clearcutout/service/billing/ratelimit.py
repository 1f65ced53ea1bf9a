"""Sliding one-minute rate-limit windows, per plan and per account, shared by the UI and
both APIs, with the numbers for the ``X-RateLimit-*`` headers.

Counted in the database's throttle table by default (every process of a deployment
shares it), or in Redis when ``billing.rate_limit_backend = "redis"`` (one sorted set
per subject, changed by one Lua script so check and count are atomic). Subjects are
HMACs either way: neither store holds a user id, key or IP address in the clear.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import delete, func, select

from clearcutout.db.models import ThrottleEvent, User
from clearcutout.errors import RateLimit, RateLimitedError
from clearcutout.service.billing import plans
from clearcutout.service.context import ServiceContext

__all__ = ["WINDOW", "take_account_slot", "take_slot"]

log = logging.getLogger(__name__)

WINDOW: Final = timedelta(minutes=1)
_ACCOUNT_ACTION: Final = "billing.rate.account"

# Atomically: drop entries older than the window, count, and add one if under the limit.
# Returns {count before, oldest score}.
_REDIS_SCRIPT: Final = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local count = redis.call('ZCARD', key)
local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
if count < limit then
  redis.call('ZADD', key, now, ARGV[4])
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
end
if oldest[2] then return {count, oldest[2]} end
return {count, tostring(now)}
"""

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _redis(url: str) -> Any:
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            import redis

            client = _clients[url] = redis.Redis.from_url(url)
        return client


def _subject(ctx: ServiceContext, action: str, value: str) -> bytes:
    return ctx.keyring.sign("ratelimit", f"{action}:{value}".encode())


def _count_database(
    ctx: ServiceContext, action: str, subject: bytes, limit: int
) -> tuple[int, float]:
    now = ctx.now()
    since = now - WINDOW
    ctx.db.execute(
        delete(ThrottleEvent).where(
            ThrottleEvent.action == action,
            ThrottleEvent.subject == subject,
            ThrottleEvent.created_at <= since,
        )
    )
    count, oldest = ctx.db.execute(
        select(func.count(), func.min(ThrottleEvent.created_at)).where(
            ThrottleEvent.action == action,
            ThrottleEvent.subject == subject,
            ThrottleEvent.created_at > since,
        )
    ).one()
    count = int(count or 0)
    if count < limit:
        ctx.db.add(ThrottleEvent(action=action, subject=subject, created_at=now))
        ctx.db.flush()
    return count, (oldest or now).timestamp()


def _count_redis(ctx: ServiceContext, action: str, subject: bytes, limit: int) -> tuple[int, float]:
    url = ctx.settings.billing.redis_url
    if not url:
        raise ValueError("billing.rate_limit_backend is redis but billing.redis_url is unset")
    client = _redis(url)
    key = f"clearcutout:rate:{action}:{subject.hex()}"
    count, oldest = client.eval(
        _REDIS_SCRIPT,
        1,
        key,
        ctx.now().timestamp(),
        WINDOW.total_seconds(),
        limit,
        uuid.uuid4().hex,
    )
    return int(count), float(oldest)


def take_slot(ctx: ServiceContext, action: str, value: str, limit: int) -> RateLimit:
    """Count one request of ``value`` in its sliding window, or raise
    :class:`RateLimitedError` (429, with the window for the headers)."""
    subject = _subject(ctx, action, value)
    if ctx.settings.billing.rate_limit_backend == "redis":
        count, oldest = _count_redis(ctx, action, subject, limit)
    else:
        count, oldest = _count_database(ctx, action, subject, limit)
    now = ctx.now().timestamp()
    frees_at = oldest + WINDOW.total_seconds()
    reset = math.ceil(frees_at)
    if count >= limit:
        log.info("ratelimit.limited action=%s", action)
        rate = RateLimit(limit=limit, remaining=0, reset=reset)
        raise RateLimitedError(rate=rate, retry_after_s=max(1, math.ceil(frees_at - now)))
    return RateLimit(limit=limit, remaining=limit - count - 1, reset=reset)


def take_account_slot(ctx: ServiceContext, user: User) -> RateLimit | None:
    """One image request of ``user`` against their plan's limit, wherever it comes from
    (the upload page, the jobs API, the remove.bg API). None with billing off."""
    if not plans.enabled(ctx.settings):
        return None
    limit = plans.plan(ctx.settings, user.plan).rate_limit_per_minute
    return take_slot(ctx, _ACCOUNT_ACTION, user.id, limit)
