"""One Claude Code CLI process, through one ``ClaudeSDKClient``: starting it, moving its messages to an
inbox as they arrive, sending it a prompt, interrupting it, and ending it together with whatever it left
running.

It deliberately knows nothing of queries, limits or timeouts: the session decides how long to wait and
when to give up. A process that exits on its own shows up as an ``AgentError`` from ``next`` (its stderr
tail in the message); after ``stop`` it is gone for good, and the session starts another to resume the
conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NoReturn

from claude_agent_sdk import ClaudeAgentOptions, ClaudeSDKClient, CLINotFoundError, ResultMessage

from kodo_bot.agents._claude_cli import CLI_HINT
from kodo_bot.agents._processes import cli_pid, process_tree, reap
from kodo_bot.confine import Leftovers
from kodo_bot.errors import AgentError

log = logging.getLogger(__name__)

#: how long the CLI has to answer an interrupt, and then to report the turn it interrupted
_GRACE_S = 3.0
_ENDED = object()  # the CLI's stdout closed


class CliProcess:
    """A running CLI. ``pid`` is its process id until ``stop`` (then None).

    ``alive``, for a confined CLI (which the launcher makes a session leader), records its session on disk
    so that a later run can end what a killed one left running; ``stop`` ends that session too.
    """

    def __init__(self, client: ClaudeSDKClient, stderr: deque[str], alive: Leftovers | None) -> None:
        self._client: ClaudeSDKClient | None = client
        self.pid = cli_pid(client)
        self._stderr = stderr
        self._alive = alive
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None

    @classmethod
    async def start(
        cls,
        options: ClaudeAgentOptions,
        *,
        on_message: Callable[[object], None],
        alive: Leftovers | None,
        name: str,
    ) -> CliProcess:
        """Start the CLI; ``on_message`` sees each message as it arrives, before it reaches the inbox."""
        stderr: deque[str] = deque(maxlen=40)
        client = ClaudeSDKClient(replace(options, stderr=stderr.append))
        try:
            await client.connect()
        except Exception as exc:  # the SDK raises bare Exception for an initialize timeout
            raise _start_error(exc, options, _tail(stderr)) from exc
        process = cls(client, stderr, alive)
        if alive is not None and process.pid is not None:
            alive.add(process.pid)
        process._pump = asyncio.create_task(process._read(client, on_message), name=name)
        return process

    @property
    def running(self) -> bool:
        return self._client is not None and self._pump is not None and not self._pump.done()

    def drop_stale_messages(self) -> None:
        # Anything that arrived between queries (a background task waking the CLI) belongs to no query,
        # and a stale ResultMessage would end the next one before it started.
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if _is_end(item):
                self._inbox.put_nowait(item)
                break

    async def send(self, prompt: str) -> None:
        assert self._client is not None
        try:
            await self._client.query(prompt)
        except Exception as exc:
            await self.stop()
            raise AgentError(f"Claude Code stopped accepting input: {exc}{_tail(self._stderr)}") from exc

    async def next(self, timeout: float) -> object:
        """The CLI's next message. Raises TimeoutError when none comes within ``timeout``, and
        ``AgentError`` (the process ended) when the CLI exited instead."""
        item = await asyncio.wait_for(self._inbox.get(), timeout)
        if _is_end(item):
            await self._crashed(item)
        return item

    async def interrupt(self) -> bool:
        """Ask the CLI to end the current turn; False when it did not answer in time (or is gone)."""
        if self._client is None:
            return False
        try:
            await asyncio.wait_for(self._client.interrupt(), _GRACE_S)
            return True
        except Exception:
            log.debug("interrupting Claude Code failed", exc_info=True)
            return False

    async def abort(self) -> None:
        """Stop an overrunning query: interrupt (so the CLI records the turn), then end the process."""
        if await self.interrupt():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._until_result(), _GRACE_S)
        await self.stop()

    async def stop(self) -> None:
        """End the CLI: the SDK closes its stdin (it saves and exits), escalating to SIGTERM and SIGKILL
        after 5 s each; then anything the CLI started that outlived it is killed, by pid, and waited for. That
        is at once: the CLI has saved what it keeps, and what is left (the sandbox's init, which ignores
        SIGTERM from outside it, shells, background jobs) has nothing to save. Safe to call twice."""
        client, self._client = self._client, None
        pump, self._pump = self._pump, None
        tree, pid = process_tree(self.pid), self.pid
        self.pid = None
        if client is not None:
            try:
                await client.disconnect()
            except Exception:
                log.debug("disconnecting Claude Code failed", exc_info=True)
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(BaseException):
                await pump
        if tree:
            await asyncio.to_thread(reap, tree, 0.0)
        if pid is not None and self._alive is not None:
            # whatever left the tree (a daemonised background job) but not the session, and the record
            await asyncio.to_thread(self._alive.reap_one, pid)

    async def _read(self, client: ClaudeSDKClient, on_message: Callable[[object], None]) -> None:
        """Move the CLI's messages to the inbox, and end with the SDK's error or ``_ENDED``."""
        try:
            async for message in client.receive_messages():
                on_message(message)
                self._inbox.put_nowait(message)
        except Exception as exc:  # noqa: BLE001 - ProcessError and friends: the process died; the query decides
            self._inbox.put_nowait(exc)
        self._inbox.put_nowait(_ENDED)

    async def _until_result(self) -> None:
        while not isinstance(item := await self._inbox.get(), ResultMessage):
            if _is_end(item):
                return

    async def _crashed(self, item: object) -> NoReturn:
        code = getattr(item, "exit_code", None)
        status = f" with exit code {code}" if code is not None else ""
        await self.stop()
        message = f"Claude Code exited{status} in the middle of a query{_tail(self._stderr)}"
        raise AgentError(message, hint="the session can be resumed by its id") from (
            item if isinstance(item, BaseException) else None
        )


def _is_end(item: object) -> bool:
    return item is _ENDED or isinstance(item, BaseException)


def _start_error(exc: Exception, options: ClaudeAgentOptions, stderr_tail: str) -> AgentError:
    if isinstance(exc, CLINotFoundError):
        return AgentError(f"Claude Code CLI not found: {exc}", hint=CLI_HINT)
    text = str(exc)
    if "No conversation found" in text:
        return AgentError(
            f"Claude Code cannot resume session {options.resume or options.session_id}: {text}",
            hint="the session's transcript is gone; start a new session",
        )
    return AgentError(
        f"Claude Code could not start: {text}{stderr_tail}",
        hint=f"check that {options.cwd} exists and the CLI runs: {CLI_HINT}",
    )


def _tail(stderr: deque[str]) -> str:
    lines = [line for line in stderr if line.strip()][-8:]
    return (":\n" + "\n".join(lines)) if lines else ""
