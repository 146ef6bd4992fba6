"""How an API orchestrator waits before it asks again: exponential backoff with jitter, or what the server
said (``retry-after``), never longer than ``max_backoff_s``. Shared by the Anthropic and Gemini adapters, so
both retry the same way and tell the engine the same way (``RetryNotice``)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from kodo_bot.engine.ports import RetryNotice

T = TypeVar("T")


def backoff_delay(attempt: int, retry_after: float | None, backoff_s: float, max_backoff_s: float) -> float:
    if retry_after is not None:
        return min(retry_after, max_backoff_s)
    base = min(backoff_s * 2.0**attempt, max_backoff_s)
    return base * (0.75 + random.random() * 0.5)  # jitter: several runners must not retry in step


async def retrying(
    call: Callable[[], Awaitable[T]],
    *,
    transient: Callable[[Exception], bool],
    give_up: Callable[[Exception, int], Exception],
    retry_after: Callable[[Exception], float | None],
    describe: Callable[[Exception], str],
    retries: int,
    backoff_s: float,
    max_backoff_s: float,
    on_retry: RetryNotice | None,
) -> T:
    """``call()`` until it answers. A transient failure is retried up to ``retries`` times, each time after
    telling ``on_retry``; anything else, or the last failure, is raised as ``give_up(exc, attempts)`` says."""
    attempt = 0
    while True:
        try:
            return await call()
        except Exception as exc:
            if not transient(exc) or attempt >= retries:
                raise give_up(exc, attempt) from exc
            delay = backoff_delay(attempt, retry_after(exc), backoff_s, max_backoff_s)
            attempt += 1
            if on_retry:
                on_retry(attempt, delay, describe(exc))
            await asyncio.sleep(delay)
