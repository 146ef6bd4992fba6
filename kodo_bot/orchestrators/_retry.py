"""How an API orchestrator waits before it asks again: exponential backoff with jitter, or what the server
said (``retry-after``), never longer than ``max_backoff_s``. ``ApiAdapter`` holds what the Anthropic and
Gemini adapters share (their key, endpoint, limits and this retry loop), so both retry the same way and tell
the engine the same way (``RetryNotice``); each says only how its failures read."""

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


class ApiAdapter:
    """The settings and retry loop of an orchestrator on a paid model API. A subclass says which failures
    may pass (``_transient``), what one that ends the run reads as (``_give_up``), how long the server asked
    to wait (``_retry_after``) and how a retry is told (``_describe``)."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        retries: int = 4,
        backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 120.0,
    ) -> None:
        self.model = model
        #: None: taken from the environment by the composition root (each adapter's ``KEY_VARIABLES``)
        self.api_key, self.base_url = api_key, base_url
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self.timeout_s = timeout_s

    async def _retrying(self, call: Callable[[], Awaitable[T]], on_retry: RetryNotice | None) -> T:
        return await retrying(
            call,
            transient=self._transient,
            give_up=self._give_up,
            retry_after=self._retry_after,
            describe=self._describe,
            retries=self.retries,
            backoff_s=self.backoff_s,
            max_backoff_s=self.max_backoff_s,
            on_retry=on_retry,
        )

    def _transient(self, exc: Exception) -> bool:
        raise NotImplementedError

    def _give_up(self, exc: Exception, attempts: int) -> Exception:
        raise NotImplementedError

    def _retry_after(self, exc: Exception) -> float | None:
        raise NotImplementedError

    def _describe(self, exc: Exception) -> str:
        raise NotImplementedError
