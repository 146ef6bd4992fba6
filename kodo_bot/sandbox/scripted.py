"""An in-process script for the engine's ports: a scripted orchestrator and scripted agent sessions.

It plays the scenario format the scripted model server plays (``kodo_bot.sandbox.scenario``), so one story
serves both: through the real Claude Code CLI and the server when the transport is under test, in process
when the engine is. A run on a script takes milliseconds, not seconds::

    script = Script({"roles": {"orchestrator": [done("nothing to do")], "verifier/tester": [...]}})
    result = kodo_bot.run(goal, project, orchestrator=script.orchestrator(), sessions=script.sessions)
    script.assert_complete()

Each role's steps are served in order, as the server serves them; a request for a role with no step left
raises ``UnexpectedCall`` at once, naming the role and what it was asked, and ``assert_complete`` fails when
steps were left unplayed. Agents' tool calls are carried out for real in the agent's checkout: ``Bash`` runs
in ``bash`` there (without kodo-bot's secrets in its environment, but not sandboxed), ``Write``, ``Edit`` and
``Read`` act on files, and the checkout watch is asked before and after each, as Claude Code's hooks ask it.
Error steps (``error:``/``malformed:``) are retried as the API orchestrator retries them: 429, 5xx and
malformed answers up to ``retries`` times, 401/403 never.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kodo_bot.engine.models import AgentResult, ToolCall, Usage
from kodo_bot.engine.ports import OrchestratorReply, RetryNotice, ToolUse
from kodo_bot.errors import ConfigError, ModelAPIError, ModelAuthError
from kodo_bot.sandbox.scenario import Scenario, Step, content_blocks, estimate_tokens, find_role
from kodo_bot.secret_names import is_secret_name

#: how much of a tool's output is kept on its ToolCall, as for the CLI backend
OUTPUT_TAIL = 4000


class UnexpectedCall(AssertionError):
    """The engine asked the script for something it does not hold: a role with no step left, or unknown."""


@dataclass(frozen=True)
class Request:
    """What one role was asked: the orchestrator's whole conversation, or an agent's task."""

    role: str
    #: the orchestrator's messages as sent; for an agent, one user message holding the task
    messages: list[dict[str, Any]]
    at: float = field(default_factory=time.monotonic)

    @property
    def prompt(self) -> str:
        last = self.messages[-1]["content"] if self.messages else ""
        return last if isinstance(last, str) else str(last)


class Script:
    """A scenario played in process. ``latency_s`` delays every answer (a slow model, for concurrency tests)."""

    def __init__(self, scenario: Scenario | Mapping[str, Any], *, latency_s: float = 0.0, retries: int = 4) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else Scenario.from_dict(dict(scenario))
        self.latency_s, self.retries = latency_s, retries
        self._queues = {role: self.scenario.queue(role) for role in self.scenario.roles}
        self._lock = threading.Lock()
        #: every request, in the order it arrived
        self.requests: list[Request] = []
        self.sessions = ScriptedSessions(self)

    def orchestrator(self, model: str = "scripted") -> ScriptedOrchestrator:
        return ScriptedOrchestrator(self, model)

    def next_step(self, role: str, messages: list[dict[str, Any]]) -> Step:
        with self._lock:
            self.requests.append(Request(role, [dict(m) for m in messages]))
            queue = self._queues.get(role)
            if not queue:
                asked = self.requests[-1].prompt[:200]
                why = "has no step left" if queue is not None else "is not in the scenario"
                raise UnexpectedCall(f"role {role!r} {why}; it was asked: {asked!r}")
            if queue[0].branch is not None:
                # its messages carry no tool results to choose by: only the real CLI's requests do
                raise ConfigError(f"role {role!r}: a branch step needs the scripted model server, not Script")
            return queue.pop(0)

    def extend(self, role: str, steps: list[dict[str, Any]]) -> None:
        """More steps for ``role``, added while the run plays: for answers that name what only the run
        creates (a comment's id, say)."""
        more = Scenario.from_dict({"roles": {role: steps}}).queue(role)
        with self._lock:
            self._queues.setdefault(role, []).extend(more)

    def left(self) -> dict[str, int]:
        """Steps not yet played, per role."""
        with self._lock:
            return {role: len(queue) for role, queue in self._queues.items() if queue}

    def assert_complete(self) -> None:
        if left := self.left():
            detail = ", ".join(f"{role}: {n} ({self._queues[role][0].summary()} next)" for role, n in left.items())
            raise AssertionError(f"the script was not played to the end; steps left: {detail}")

    def asked(self, role: str) -> list[Request]:
        return [r for r in self.requests if r.role == role]

    async def answer(
        self, role: str, messages: list[dict[str, Any]], on_retry: RetryNotice | None = None
    ) -> tuple[Step, int]:
        """The role's next answer that is not an error, retrying errors as the API orchestrator does.
        Returns the step and how many requests it took."""
        attempt = 0
        while True:
            step = self.next_step(role, messages)
            delay = self.latency_s + step.delay_s
            if delay:
                await asyncio.sleep(delay)
            if step.error is None and step.malformed is None and step.gemini is None:
                return step, attempt + 1
            error = step.error
            status = error.status if error else 200
            why = f"HTTP {status}: {error.message}" if error else "a 200 response that is not a message"
            if step.gemini is not None:
                why = f"a Gemini {step.gemini} candidate"
            if error and status in (401, 403):
                raise ModelAuthError(f"the model API refused the credentials ({status}): {error.message}")
            retryable = status in (408, 409, 429) or status >= 500 or error is None
            if not retryable or attempt >= self.retries:
                raise ModelAPIError(
                    f"the model API kept failing after {attempt + 1} attempts: {why}",
                    hint="the run is saved: fix the cause and continue it with `kodo-bot resume`.",
                )
            attempt += 1
            if on_retry:
                on_retry(attempt, 0.0, why)


class ScriptedOrchestrator:
    """The ``Orchestrator`` port on a script's ``orchestrator`` role."""

    fix = "the script needs no key"

    def __init__(self, script: Script, model: str) -> None:
        self.script, self.model = script, model

    def missing(self) -> str | None:
        return None

    async def reply(
        self,
        system: str,
        messages: list[dict[str, Any]],
        tool_defs: list[dict[str, Any]],
        *,
        on_retry: RetryNotice | None = None,
    ) -> OrchestratorReply:
        started = time.monotonic()
        role = find_role({"system": system}) or "orchestrator"
        step, _ = await self.script.answer(role, messages, on_retry)
        names = {t["name"] for t in tool_defs}
        content = content_blocks(step)
        uses = [ToolUse(id=b["id"], name=b["name"], input=b["input"]) for b in content if b["type"] == "tool_use"]
        if unknown := sorted({u.name for u in uses} - names):
            # a real model cannot call a tool it was not offered; a script that does is wrong, not the engine
            raise UnexpectedCall(
                f"the script calls {unknown}, which the orchestrator was not offered ({sorted(names)})"
            )
        spec = step.usage
        given_in = spec.input_tokens if spec else None
        given_out = spec.output_tokens if spec else None
        usage = Usage(
            input_tokens=given_in if given_in is not None else estimate_tokens([system, messages]),
            output_tokens=given_out if given_out is not None else estimate_tokens(content),
        )
        return OrchestratorReply(
            text=(step.text or "").strip(),
            tool_uses=uses,
            stop_reason=step.effective_stop_reason,
            usage=usage,
            content=content,
            wait_s=time.monotonic() - started,
        )

    async def close(self) -> None:
        pass


class ScriptedSessions:
    """The ``SessionFactory`` port on a script: each session plays the role its system prompt names."""

    def __init__(self, script: Script) -> None:
        self.script = script
        #: sessions opened, in order (tests look at roles, resumes and closes)
        self.opened: list[ScriptedSession] = []

    def available(self, backend: str) -> str | None:
        return None

    def open(
        self,
        *,
        agent: str,
        role: str,
        system_prompt: str,
        model: str | None,
        cwd: Path,
        max_turns: int,
        idle_timeout_s: float,
        timeout_s: float,
        resume: str | None = None,
        watch: Callable[[], str] | None = None,
    ) -> ScriptedSession:
        session = ScriptedSession(
            self.script,
            agent=agent,
            role=find_role({"system": system_prompt}) or role,
            cwd=cwd,
            max_turns=max_turns,
            resume=resume,
            watch=watch,
        )
        self.opened.append(session)
        return session


class ScriptedSession:
    """One agent conversation on a script. A query plays the role's steps until one ends the turn (a step
    without tool calls), running each tool call for real in ``cwd``."""

    def __init__(
        self,
        script: Script,
        *,
        agent: str,
        role: str,
        cwd: Path,
        max_turns: int,
        resume: str | None,
        watch: Callable[[], str] | None,
    ) -> None:
        self.script, self.agent, self.role, self.cwd = script, agent, role, Path(cwd)
        self.max_turns, self.watch = max_turns, watch
        self.session_id: str | None = resume
        self.resumed_from = resume
        self.closed = False
        #: when ``start`` was called (None: the first query started it), for tests of what is ready early
        self.started_at: float | None = None
        #: a verifier gets a fresh, empty HOME, watched like its checkout (as the CLI backend gives it)
        self.home: Path | None = Path(tempfile.mkdtemp(prefix="kodo-home-")) if role.startswith("verifier/") else None

    async def start(self) -> None:
        if self.closed:
            raise RuntimeError(f"session of {self.agent} started after close")
        self.started_at = time.monotonic()

    async def query(self, prompt: str) -> AgentResult:
        if self.closed:
            raise RuntimeError(f"session of {self.agent} used after close")
        started = time.monotonic()
        self.session_id = self.session_id or f"scripted-{uuid.uuid4().hex[:12]}"
        messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
        calls: list[ToolCall] = []
        usage, turns = Usage(), 0
        while True:
            try:
                step, _ = await self.script.answer(self.role, messages)
            except ModelAPIError as exc:
                # the CLI retries the model itself and then ends the query with an error result, not a raise
                return AgentResult(
                    agent=self.agent,
                    turns=turns,
                    usage=usage,
                    session_id=self.session_id,
                    tool_calls=tuple(calls),
                    is_error=True,
                    error=str(exc),
                    duration_s=time.monotonic() - started,
                )
            turns += 1
            usage = usage + Usage(
                input_tokens=estimate_tokens(messages), output_tokens=estimate_tokens(content_blocks(step))
            )
            if not step.tool_calls:
                return AgentResult(
                    agent=self.agent,
                    text=step.text or "",
                    turns=turns,
                    usage=usage,
                    session_id=self.session_id,
                    tool_calls=tuple(calls),
                    duration_s=time.monotonic() - started,
                )
            if turns > self.max_turns:
                return AgentResult(
                    agent=self.agent,
                    turns=turns,
                    usage=usage,
                    session_id=self.session_id,
                    tool_calls=tuple(calls),
                    is_error=True,
                    error=f"turn limit {self.max_turns} reached",
                    duration_s=time.monotonic() - started,
                )
            for spec in step.tool_calls:
                calls.append(await asyncio.to_thread(self._use, spec.name, dict(spec.input)))
            messages = [*messages, {"role": "assistant", "content": step.summary()}]

    def _use(self, name: str, params: dict[str, Any]) -> ToolCall:
        before = self.watch() if self.watch else None
        output, is_error, exit_code = _run_tool(name, params, self.cwd, self.home)
        after = self.watch() if self.watch else None
        return ToolCall(
            tool_use_id=f"toolu_{uuid.uuid4().hex[:16]}",
            name=name,
            input=params,
            output=output[-OUTPUT_TAIL:],
            is_error=is_error,
            exit_code=exit_code,
            checkout_before=before,
            checkout_after=after,
        )

    async def close(self) -> None:
        self.closed = True


def _run_tool(name: str, params: dict[str, Any], cwd: Path, home: Path | None) -> tuple[str, bool, int | None]:
    """(output, is_error, exit code) of one tool, as Claude Code would report it."""
    if name == "Bash":
        env = {k: v for k, v in os.environ.items() if not is_secret_name(k)}
        env.update(PYTHONDONTWRITEBYTECODE="1", **({"HOME": str(home)} if home else {}))
        try:
            done = subprocess.run(
                ["bash", "-c", str(params.get("command", ""))],
                cwd=cwd,
                env=env,
                text=True,
                capture_output=True,
                timeout=float(params.get("timeout", 120_000)) / 1000,
            )
        except subprocess.TimeoutExpired:
            return "Command timed out", True, None
        output = (done.stdout + done.stderr).rstrip("\n")
        return output, done.returncode != 0, done.returncode
    path = cwd / str(params.get("file_path", ""))
    try:
        if name == "Write":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(str(params.get("content", "")), encoding="utf-8")
            return f"File created successfully at: {path}", False, None
        if name == "Edit":
            text, old = path.read_text(encoding="utf-8"), str(params.get("old_string", ""))
            if old not in text:
                return "<tool_use_error>String to replace not found in file.</tool_use_error>", True, None
            path.write_text(text.replace(old, str(params.get("new_string", "")), 1), encoding="utf-8")
            return f"The file {path} has been updated.", False, None
        if name == "Read":
            return path.read_text(encoding="utf-8"), False, None
    except OSError as exc:
        return f"<tool_use_error>{exc}</tool_use_error>", True, None
    return f"<tool_use_error>No such tool available: {name}</tool_use_error>", True, None
