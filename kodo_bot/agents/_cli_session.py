"""One agent conversation on a headless agent CLI that runs one process per task and prints JSON lines
(Gemini CLI, Codex, Cursor): the parts every such backend shares.

A ``CliSession`` starts the CLI for each query (``flavor.argv``), confined like Claude Code's
(``kodo_bot.confine``: bubblewrap where it can run, always an environment built from an allowlist), reads
its event stream line by line through the flavor's ``Stream``, and turns it into an ``AgentResult``. The
conversation lives in the CLI's own state under the agent's private HOME; the next query, or a later
kodo-bot after ``kill -9``, continues it by id (``flavor.argv(..., resume=True)``).

Limits are kodo-bot's, not the CLI's: a model turn past ``max_turns``, no event for ``idle_timeout_s`` or
the query running past ``timeout_s`` ends the process and everything it started (its process tree, then
its whole process session, recorded in ``alive`` so a run resumed after a crash ends what a killed one left
running). A CLI that exits without its final event, or prints a line that is not JSON, fails the call with
its stderr tail. The CLI's own credential is masked in everything returned and in its session files. Who
pays for the tokens follows from that credential (``Flavor.keys_bill_per_token``): ``AgentResult.billing``.

What the flavors know: how to start their CLI, what to write into HOME first, how their events map to
turns, text, tool calls (shell calls as ``Bash`` with their exit status, so the engine judges every
backend's verifiers by one evidence rule), usage and cost. This module knows none of that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from kodo_bot.agents.env import SHELL_DEFAULTS
from kodo_bot.confine import Confinement, Leftovers
from kodo_bot.engine.models import AgentResult, ToolCall, Usage
from kodo_bot.errors import AgentError
from kodo_bot.redact import redact

#: how much of a tool's output an AgentResult keeps: the end, where errors and test summaries are
OUTPUT_TAIL = 4000
#: one JSON line may carry a whole file a tool read
_MAX_LINE = 32 * 1024 * 1024


@dataclass
class Stream:
    """What one query's event stream has said so far. A flavor's ``read`` fills it in, event by event."""

    session_id: str | None = None
    turns: int = 0
    #: the model is in the middle of a turn (a flavor that counts turns from tool calls and text uses it)
    in_turn: bool = False
    #: the text of the latest turn that said something
    text: str = ""
    usage: Usage = field(default_factory=Usage)
    #: the final event arrived (the CLI finished the task, well or badly)
    done: bool = False
    #: why the CLI said the task failed, when it did
    error: str | None = None
    calls: dict[str, ToolCall] = field(default_factory=dict)
    #: the checkout watch's answers, by tool call id (verifiers only)
    before: dict[str, str] = field(default_factory=dict)
    after: dict[str, str] = field(default_factory=dict)
    #: set by the flavor for an event that starts (True) or ends (False) a tool, with its id
    tool_event: tuple[str, bool] | None = None
    #: the checkout watch's latest answer in time (at the start of the query, then after each tool)
    last_look: str | None = None

    def model_speaks(self) -> None:
        """A tool call or text after the task or a tool result starts a new model turn."""
        if not self.in_turn:
            self.turns += 1
            self.text = ""
            self.in_turn = True

    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            c.model_copy(update={"checkout_before": self.before.get(i), "checkout_after": self.after.get(i)})
            for i, c in self.calls.items()
        )


class Flavor(Protocol):
    """What one agent CLI needs to be driven by ``CliSession``."""

    #: the backend's name in the team file (``gemini_cli``)
    backend: str
    #: what people call it, for messages (``Gemini CLI``)
    title: str
    #: whether running on one of its ``credentials`` is paid per token (an API key: the ``api`` bucket, which
    #: ``max_cost_usd`` limits) rather than by a plan (the ``subscription`` bucket)
    keys_bill_per_token: bool

    def argv(self, prompt: str, *, session_id: str, resume: bool, model: str | None) -> list[str]:
        """The command line of one query, which starts conversation ``session_id`` or resumes it."""
        ...

    def prepare(self, home: Path, system_prompt: str) -> dict[str, str]:
        """Write what the CLI reads from its HOME; return the variables the CLI must be started with
        (its credential and settings included)."""
        ...

    def credentials(self, env: Mapping[str, str]) -> tuple[str, ...]:
        """The values of the CLI's own credentials in ``env``: the agent can read them, so they are masked."""
        ...

    def has_conversation(self, home: Path, session_id: str) -> bool:
        """Whether the CLI kept conversation ``session_id`` under ``home`` (so it can be resumed)."""
        ...

    def read(self, event: dict[str, Any], stream: Stream) -> None:
        """Take one event of the stream into ``stream``."""
        ...

    def finish(self, home: Path, stream: Stream) -> None:
        """After the process ended: complete what the stream left out (exit statuses from the CLI's session
        file, say), and mask ``credentials`` in its files (done by the session)."""
        ...

    def cost(self, usage: Usage, model: str | None) -> float:
        """What the usage would cost at the provider's API prices (the subscription bucket shows it)."""
        ...

    def session_files(self, home: Path) -> list[Path]:
        """The CLI's transcripts under ``home``, masked after every query."""
        ...

    def project_config(self, cwd: Path) -> list[Path]:
        """What in the checkout would configure or instruct this session and cannot be turned off by an
        option: hidden from it by the sandbox (a verifier's; a worker's CLI reads the project as it is)."""
        ...


@dataclass(frozen=True)
class CliLaunch:
    """What every process of one session is started with."""

    agent: str
    system_prompt: str
    cwd: Path
    state_dir: Path
    model: str | None
    cli: Path
    confinement: Confinement
    #: where the CLI keeps its own state (its conversations); outside the agent's HOME, which a verifier's
    #: checkout watch expects to stay empty, unless the CLI knows no other place (then the same folder)
    cli_home: Path
    #: the environment kodo-bot was started with; only what the flavor and ``agent_env`` name is passed on
    parent_env: Mapping[str, str]
    #: added verbatim (tests: a shorter retry budget, say)
    env: Mapping[str, str] = field(default_factory=dict)
    #: where each process's session is recorded while it runs (the run reaps what is left after a crash)
    alive: Path | None = None


class CliSession:
    """One agent conversation on a JSON-lines agent CLI (see the module's docstring)."""

    def __init__(
        self,
        flavor: Flavor,
        launch: CliLaunch,
        *,
        max_turns: int = 40,
        idle_timeout_s: float = 600.0,
        timeout_s: float = 3600.0,
        resume: str | None = None,
        watch: Callable[[], str] | None = None,
    ) -> None:
        self.agent = launch.agent
        self.flavor = flavor
        self.launch = launch
        self.max_turns = max_turns
        self.idle_timeout_s = idle_timeout_s
        self.timeout_s = timeout_s
        self._id = resume
        self._must_resume = resume is not None
        self._watch = watch
        self._alive = Leftovers(launch.alive) if launch.alive is not None else None
        self._process: asyncio.subprocess.Process | None = None
        #: marks every process the CLI starts (inherited), so a detached one is found when the CLI ends
        self._tag = uuid.uuid4().hex
        self._credentials: tuple[str, ...] = ()

    @property
    def session_id(self) -> str | None:
        return self._id

    @property
    def home(self) -> Path | None:
        """The agent's private HOME, which the engine watches in a verifier's round (None when the CLI keeps
        its own state there, so it cannot stay empty)."""
        home = self.launch.confinement.home
        return None if home == self.launch.cli_home else home

    @property
    def cli_home(self) -> Path:
        return self.launch.cli_home

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.returncode is None else None

    async def start(self) -> None:
        """Nothing to start ahead: the CLI runs one process per query. Checks it can start at all."""
        if not os.access(self.launch.cli, os.X_OK):
            raise AgentError(f"{self.flavor.title} not found at {self.launch.cli}")

    async def query(self, prompt: str) -> AgentResult:
        started = time.monotonic()
        if self._process is not None:
            raise RuntimeError(f"session {self.agent!r} is already running a query")
        # the id counts once the CLI reports it (a CLI that died before has none to resume)
        stream = Stream(last_look=await asyncio.to_thread(self._watch) if self._watch is not None else None)
        stderr: deque[str] = deque(maxlen=40)
        try:
            error = await self._run(prompt, stream, stderr, started)
        finally:
            await self._stop()
        await asyncio.to_thread(self.flavor.finish, self.cli_home, stream)
        await asyncio.to_thread(self._mask_files)
        if stream.session_id:
            self._id = stream.session_id
        if error is None and stream.error:
            error = stream.error
        return self._result(stream, error, time.monotonic() - started)

    async def close(self) -> None:
        await self._stop()

    # --- one process ---------------------------------------------------------------------------------

    async def _run(self, prompt: str, stream: Stream, stderr: deque[str], started: float) -> str | None:
        """Start the CLI on ``prompt`` and follow its stream to the end; return why kodo-bot ended it, if it did."""
        out, into = os.pipe()
        try:
            process = await self._spawn(prompt, into)
        finally:
            os.close(into)
        lines = _Lines(out)
        reader = asyncio.create_task(_drain(process.stderr, stderr))
        try:
            return await self._follow(process, lines, stream, stderr, started)
        finally:
            if process.returncode is None:
                await self._stop()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(reader, 2.0)
            os.close(out)

    async def _spawn(self, prompt: str, stdout: int) -> asyncio.subprocess.Process:
        session_id, resume = self._conversation()
        self.cli_home.mkdir(parents=True, exist_ok=True)
        own = self.flavor.prepare(self.cli_home, self.launch.system_prompt)
        env = {
            **SHELL_DEFAULTS,
            "GIT_CEILING_DIRECTORIES": str(self.launch.cwd.resolve().parent),
            TAG: self._tag,
            **own,
            **self.launch.env,
        }
        self._credentials = self.flavor.credentials(env)
        confinement = replace(
            self.launch.confinement,
            keep_env=self.launch.confinement.keep_env | set(env),
            cli_env=False,
            masked=self._masked(),
        )
        argv = [str(self.launch.cli), *self.flavor.argv(prompt, session_id=session_id, resume=resume,
                                                         model=self.launch.model)]  # fmt: skip
        parent = {k: v for k, v in self.launch.parent_env.items() if k in _BASE_KEEP or k in confinement.keep_env}
        command, full_env = confinement.command(argv, {**parent, **env})
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=self.launch.cwd,
                env=full_env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise AgentError(f"{self.flavor.title} could not start: {exc}") from exc
        self._process = process
        if self._alive is not None:
            self._alive.add(process.pid)
        return process

    def _masked(self) -> tuple[Path, ...]:
        """The checkout's files the flavor says must not reach this session (looked up now: a verifier's
        checkout holds the commit only from its first query). Only the sandbox can hide them."""
        found = tuple(self.flavor.project_config(self.launch.cwd))
        if found and not self.launch.confinement.bwrap:
            names = ", ".join(sorted({p.name for p in found}))
            raise AgentError(
                f"{self.flavor.title} cannot be kept from the checkout's {names} without the sandbox, and would "
                "take its instructions or settings from the commit it judges",
                hint="run with the sandbox (bubblewrap) on, or give this verifier another backend",
            )
        return found

    def _conversation(self) -> tuple[str, bool]:
        if self._id is None:
            return str(uuid.uuid4()), False
        if self.flavor.has_conversation(self.cli_home, self._id):
            return self._id, True
        if self._must_resume:
            raise AgentError(
                f"cannot resume {self.flavor.title} session {self._id}: no transcript under {self.cli_home}",
                hint="resuming needs the state directory of the run that started the session; start afresh",
            )
        return self._id, False  # a process that died before writing anything: start the same id afresh

    async def _follow(
        self, process: asyncio.subprocess.Process, lines: _Lines, stream: Stream, stderr: deque[str], started: float
    ) -> str | None:
        deadline = started + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                line = await asyncio.wait_for(lines.readline(), max(0.0, min(self.idle_timeout_s, left)))
            except TimeoutError:
                if left <= self.idle_timeout_s:
                    return f"hard timeout: the query ran longer than {self.timeout_s:g}s"
                return f"idle timeout: no event from {self.flavor.title} for {self.idle_timeout_s:g}s"
            except ValueError:  # a line longer than the limit
                return f"{self.flavor.title} printed a line longer than {_MAX_LINE} bytes{_tail(stderr)}"
            if not line:
                code = await process.wait()
                if stream.done:
                    return None
                return f"{self.flavor.title} exited with code {code} before finishing the task{_tail(stderr)}"
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                return f"{self.flavor.title} printed something that is not a JSON event: {line[:200]!r}{_tail(stderr)}"
            if not isinstance(event, dict):
                continue
            self.flavor.read(event, stream)
            self._look(stream, lines)
            if stream.turns > self.max_turns:
                return f"turn limit {self.max_turns} reached"
            if stream.done:
                return None

    def _look(self, stream: Stream, lines: _Lines) -> None:
        """Before and after each tool (as the stream tells them), ask the checkout watch what differs.

        The CLI does not wait for kodo-bot as Claude Code waits for its hooks: it may have gone on by the time
        its event is read. So a look that came late must not pass an edited checkout as clean. A tool's
        before-look holds the previous tool's after-look too (taken before this tool was announced, and the
        CLIs announce a tool before running it), and an after-look taken when the CLI had already said more
        (it may have run the next tool, which could undo an edit) counts as an edit itself (``LATE``).
        """
        if stream.tool_event is None:
            return
        tool_id, starting = stream.tool_event
        stream.tool_event = None
        if self._watch is None:
            return
        seen = self._watch()
        if starting:
            stream.before[tool_id] = _joined(stream.last_look, seen)
            return
        stream.after[tool_id] = stream.last_look = _joined(seen, LATE) if lines.pending() else seen

    async def _stop(self) -> None:
        """End the process and everything it started: its tree, then its whole process session. Safe twice."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            await asyncio.to_thread(_kill_others, process.pid, self._tag)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 10)
        # what it left running in its session after it exited (a backgrounded job)
        await asyncio.to_thread(_kill_others, process.pid, self._tag)
        if self._alive is not None:
            await asyncio.to_thread(self._alive.reap_one, process.pid)

    # --- results -------------------------------------------------------------------------------------

    def _mask_files(self) -> None:
        if not self._credentials:
            return
        for path in self.flavor.session_files(self.cli_home):
            with contextlib.suppress(OSError), path.open("r+", encoding="utf-8", errors="surrogateescape") as fh:
                text = fh.read()
                masked = redact(text, self._credentials)
                if masked != text:
                    fh.seek(0)
                    fh.write(masked)
                    fh.truncate()

    def _result(self, stream: Stream, error: str | None, duration_s: float) -> AgentResult:
        result = AgentResult(
            agent=self.agent,
            text=stream.text,
            turns=min(stream.turns, self.max_turns) if error and "turn limit" in error else stream.turns,
            usage=stream.usage,
            cost_usd=round(self.flavor.cost(stream.usage, self.launch.model), 6),
            billing="api" if self.flavor.keys_bill_per_token and self._credentials else "subscription",
            session_id=self._id,
            is_error=error is not None,
            error=error,
            tool_calls=stream.tool_calls(),
            duration_s=round(duration_s, 3),
        )
        from kodo_bot.agents._claude_stream import without_secrets  # the same masking as Claude Code's results

        return without_secrets(result, self._credentials)


#: the variable that marks a session's processes (its value is per session, and not a secret)
TAG = "KODO_AGENT_PROCESS_TAG"
#: what a look taken too late says: the checkout may have been edited and restored before it
LATE = "not seen in time (the CLI had gone on before kodo-bot looked)"
#: kept from kodo-bot's environment besides what the flavor sets (``Confinement`` adds the toolchain homes)
_BASE_KEEP = frozenset({"PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM", "TZ", "USER",
                        "LOGNAME", "SHELL", "HOME"})  # fmt: skip


class _Lines:
    """The CLI's stdout, read line by line from a pipe kodo-bot reads itself, so that it can tell whether the
    CLI has already said more than was read (``pending``)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._eof = False
        os.set_blocking(fd, False)

    async def readline(self) -> bytes:
        """The next line, or what is left at the end (b"" once all is read). ValueError: a line over the limit."""
        while (end := self._buffer.find(b"\n")) < 0 and not self._eof:
            if len(self._buffer) > _MAX_LINE:
                raise ValueError("line too long")
            await self._readable()
            self._fill()
        cut = end + 1 if end >= 0 else len(self._buffer)
        line = bytes(self._buffer[:cut])
        del self._buffer[:cut]
        return line

    def pending(self) -> bool:
        """Whether the CLI wrote anything past what was read."""
        if not self._buffer.strip():
            self._fill()
        return bool(self._buffer.strip())

    def _fill(self) -> None:
        """One read of what the pipe holds (one at a time: a CLI that writes on and on cannot keep it here)."""
        if self._eof:
            return
        with contextlib.suppress(BlockingIOError):
            chunk = os.read(self._fd, 1 << 16)
            self._buffer += chunk
            self._eof = not chunk

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self._fd, wake)
        try:
            await ready
        finally:
            loop.remove_reader(self._fd)


def _joined(earlier: str | None, now: str) -> str:
    """What two looks saw together ("" when neither saw anything)."""
    return "; ".join(dict.fromkeys(look for look in (earlier, now) if look))


def tail(text: str, limit: int = OUTPUT_TAIL) -> str:
    return text if len(text) <= limit else "[...]" + text[-limit:]


def _tail(stderr: deque[str]) -> str:
    lines = [line for line in stderr if line.strip()][-8:]
    return (":\n" + "\n".join(lines)) if lines else ""


async def _drain(pipe: asyncio.StreamReader | None, into: deque[str]) -> None:
    if pipe is None:
        return
    while line := await pipe.readline():
        into.append(line.decode("utf-8", "replace").rstrip())


def _kill_others(leader: int, tag: str) -> None:
    """Kill what the CLI ``leader`` started: its process tree, every process in its process session (it
    was started as the session's leader) and every process carrying its ``TAG`` (the CLIs start shell
    commands detached, in sessions of their own, and a backgrounded job's parent is gone by then); wait for
    them. The leader itself is the caller's child, which the caller kills and waits for. By pid, session and
    tag, never by name (inside bubblewrap nothing outlives the CLI anyway: the sandbox dies with it)."""
    import psutil

    found: dict[int, Any] = {}
    with contextlib.suppress(psutil.Error):
        found.update({p.pid: p for p in psutil.Process(leader).children(recursive=True)})
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, OSError):
            if proc.pid in (leader, os.getpid()):
                continue
            if os.getsid(proc.pid) == leader or proc.environ().get(TAG) == tag:
                found.setdefault(proc.pid, proc)
    for proc in found.values():
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(list(found.values()), timeout=5)
