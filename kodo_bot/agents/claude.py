"""Claude Code sessions: one agent conversation in one CLI process, driven through claude-agent-sdk.

``ClaudeSessionFactory`` opens ``ClaudeSession``s for the engine (the ``SessionFactory`` seam in
``engine/ports.py``). A session keeps one ``ClaudeSDKClient``, so one CLI process, for all its queries, and
turns the CLI's message stream into an ``AgentResult``: final text, turns, usage, cost and, as evidence, every
tool call paired with the result the CLI reported (for Bash, with the exit status the CLI saw).

Limits are enforced here rather than trusted to the backend. Turns (model responses) are counted as they
stream in; past ``max_turns`` a PreToolUse hook refuses further tools and the turn is interrupted. An idle
timeout (no message for ``idle_timeout_s``) or the hard timeout (``timeout_s`` per query) interrupts the
turn, ends the CLI process and reaps anything it left running. The next ``query`` on the same session then
starts a new process that resumes the conversation by its id (same ``CLAUDE_CONFIG_DIR``).

Errors, split the way the engine reads them: an error *result* means "the agent failed this task" (the
engine reports it to the orchestrator); ``AgentError`` means "this backend cannot run".

- ``AgentError``: the CLI is missing or not executable, cannot start or initialise, cannot resume the
  requested session, or exits in the middle of a query (a crash; the message carries its stderr tail).
- error ``AgentResult``: the turn limit, an idle or hard timeout, the model API failing after the CLI's own
  retries (5xx, 529), the API refusing the credential (401/403), or a turn the CLI ended with an error.

It deliberately does not write prompts, retry tasks or judge results (the engine does), and reads no
settings from the environment: ``cli.py`` passes ``cli_path`` and the environment it read (``parent_env``).
It does look at the *names* in ``os.environ``, because the SDK hands all of it to the CLI, so every secret
there must be overridden too (see ``agents/env.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
import uuid
from collections import deque
from dataclasses import replace
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import claude_agent_sdk
from claude_agent_sdk import (
    ClaudeAgentOptions,
    ClaudeSDKClient,
    CLINotFoundError,
    HookMatcher,
    ResultMessage,
    SystemMessage,
)

from kodo_bot.agents._claude_stream import (
    QueryProgress,
    bash_exit_code,
    restored_cost,
    result_error,
    transcript,
    usage_from,
    without_secrets,
)
from kodo_bot.agents._processes import cli_pid, process_tree, reap
from kodo_bot.agents.env import CLI_CREDENTIALS, agent_environment, config_dir, tmp_dir
from kodo_bot.confine import Confinement, Leftovers, git_exposure, sandbox_problem
from kodo_bot.engine.models import AgentResult
from kodo_bot.errors import AgentError
from kodo_bot.redact import redact


__all__ = ["BUNDLED_CLI", "ClaudeSession", "ClaudeSessionFactory", "bash_exit_code", "cli_problem"]

log = logging.getLogger(__name__)

#: the CLI binary the claude-agent-sdk wheel carries (the SDK's first choice when no cli_path is given)
BUNDLED_CLI = Path(claude_agent_sdk.__file__).parent / "_bundled" / ("claude.exe" if os.name == "nt" else "claude")

_CLI_HINT = "pass cli_path (kodo-bot: KODO_CLAUDE_CLI) or reinstall claude-agent-sdk, whose wheel bundles the CLI"
#: how long to wait for the CLI to answer an interrupt, or for a tool_use to show up in the stream
_GRACE_S = 3.0
#: one JSON line from the CLI may carry a whole file a tool read; the SDK's 1 MB default ends the stream
_MAX_LINE = 32 * 1024 * 1024
_ENDED = object()  # the CLI's stdout closed


def cli_problem(cli_path: Path | str | None) -> str | None:
    """None when the Claude Code CLI can be run, else a sentence saying why not.

    Without ``cli_path`` the SDK runs the CLI bundled in its wheel, else ``claude`` on PATH.
    """
    if cli_path is None:
        if _executable(BUNDLED_CLI) or shutil.which("claude"):
            return None
        return f"no Claude Code CLI: claude-agent-sdk bundles none at {BUNDLED_CLI} and `claude` is not on PATH"
    path = Path(cli_path)
    if not path.is_file():
        return f"the configured Claude Code CLI {path} does not exist"
    if not _executable(path):
        return f"the configured Claude Code CLI {path} is not executable"
    return None


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


class ClaudeSessionFactory:
    """Opens Claude Code sessions that keep their state under ``state_dir``.

    ``cli_path`` picks a CLI other than the bundled one. ``parent_env`` is the environment kodo-bot was
    started with (default ``os.environ``): the CLI's credentials and settings such as ``ANTHROPIC_BASE_URL``
    come from it, its secrets are scrubbed. ``env`` is added verbatim to every agent's environment
    (``agent_environment``'s ``extra``). ``on_session_id(agent, id)`` is called as soon as a session's CLI
    is up with its id fixed, so the engine can checkpoint the id before the first query ends (a run can be
    killed mid-query, and the id is what a later run resumes).
    """

    def __init__(
        self,
        *,
        state_dir: Path,
        cli_path: Path | str | None = None,
        parent_env: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        on_session_id: Callable[[str, str], None] | None = None,
        sandbox: bool = True,
        agent_env: tuple[str, ...] = (),
    ) -> None:
        self.state_dir = Path(state_dir)
        #: confine each CLI with bubblewrap where it can run (else only the environment allowlist holds)
        self.sandbox = sandbox
        #: variable names the team or .github/kodo.yml let through to agents (``agent_env``)
        self.agent_env = tuple(agent_env)
        self.cli_path = Path(cli_path) if cli_path is not None else None
        self.parent_env = dict(parent_env) if parent_env is not None else None
        self.env = dict(env or {})
        self.on_session_id = on_session_id

    def available(self, backend: str) -> str | None:
        if backend != "claude_code":
            return f"kodo-bot has no agent backend called {backend!r} (it knows claude_code)"
        return cli_problem(self.cli_path)

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
    ) -> ClaudeSession:
        # ``role`` is already the first line of system_prompt (role_marker); the session needs nothing else.
        callback = self.on_session_id
        return ClaudeSession(
            agent=agent, system_prompt=system_prompt, cwd=cwd, state_dir=self.state_dir, model=model,
            max_turns=max_turns, idle_timeout_s=idle_timeout_s, timeout_s=timeout_s, resume=resume,
            cli_path=self.cli_path, parent_env=self.parent_env, env=self.env,
            on_session_id=(lambda sid: callback(agent, sid)) if callback else None, watch=watch,
            confinement=self.confinement(agent, cwd, fresh_home=role.startswith("verifier/")),
            isolated=role.startswith("verifier/"),
        )

    def confinement(self, agent: str, cwd: Path, *, fresh_home: bool = False) -> Confinement:
        """What a session of ``agent`` working in ``cwd`` may touch (see ``kodo_bot.confine``). A verifier
        gets a HOME of its own per checkout, empty, so anything it writes there can be seen."""
        cwd = Path(cwd).resolve()
        home = self.state_dir / "homes" / (f"{agent}-{cwd.name}" if fresh_home else agent)
        if fresh_home:
            shutil.rmtree(home, ignore_errors=True)
        readable, hidden = git_exposure(cwd)
        cli = self.cli_path.resolve() if self.cli_path else BUNDLED_CLI
        # The repository stays readable (git works in the checkout) but not its config, where a credential
        # (a token in a remote URL, actions/checkout's extraheader) would be.
        return Confinement(
            writable=(cwd, config_dir(self.state_dir).resolve(), tmp_dir(self.state_dir).resolve()),
            home=home.resolve(), keep_env=frozenset(self.agent_env),
            # The CLI cannot write its shell snapshot (frozen below), so its Bash tool runs a login shell, whose
            # /etc/profile would reset PATH to the system's: hidden, the agent keeps the PATH it was given.
            hidden=(*hidden, Path("/etc/profile")), readable=(cli.parent, *readable),
            frozen=tuple(config_dir(self.state_dir).resolve() / name
                         for name in ("shell-snapshots", "session-env", "settings.json")),
            bwrap=self.sandbox and sandbox_problem() is None,
        )


class ClaudeSession:
    """One agent conversation with Claude Code. The CLI starts at the first ``query``; ``close()`` ends it.

    ``parent_env`` and ``env`` are as for ``ClaudeSessionFactory``. ``resume`` continues an earlier
    conversation by its id (it must have run with the same ``state_dir``).
    After a timeout the process is gone but the session is not: the next ``query`` resumes it. One query at
    a time; a session belongs to the event loop it first ran in (the SDK's reader tasks live there).
    ``cli_enforces_max_turns=False`` leaves the CLI's own limit off, which tests use to prove that
    kodo-bot's count holds by itself.
    """

    def __init__(
        self,
        *,
        agent: str,
        system_prompt: str,
        cwd: Path,
        state_dir: Path,
        model: str | None = None,
        max_turns: int = 40,
        idle_timeout_s: float = 600.0,
        timeout_s: float = 3600.0,
        resume: str | None = None,
        cli_path: Path | str | None = None,
        parent_env: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        on_session_id: Callable[[str], None] | None = None,
        cli_enforces_max_turns: bool = True,
        watch: Callable[[], str] | None = None,
        confinement: Confinement | None = None,
        isolated: bool = False,
    ) -> None:
        problem = cli_problem(cli_path)
        if problem:
            raise AgentError(problem, hint=_CLI_HINT)
        self.agent = agent
        self.system_prompt = system_prompt
        self.cwd = Path(cwd)
        self.state_dir = Path(state_dir)
        self.model = model
        self.max_turns = max_turns
        self.idle_timeout_s = idle_timeout_s
        self.timeout_s = timeout_s
        self.session_id: str | None = resume
        self._must_resume = resume is not None  # the caller expects an existing conversation
        self._started = False  # a CLI process ran for this session (so its id is fixed on our side)
        self._announced: str | None = None
        self._in_doubt = False  # a query was abandoned midway: its turn may still be running
        self._cli_path = cli_path
        self._parent_env = dict(parent_env) if parent_env is not None else None
        self._env = dict(env or {})
        self._on_session_id = on_session_id
        self._watch = watch
        self._confinement = confinement
        #: load no settings file at all (a verifier: the commit under review may carry a .claude/settings.json
        #: whose env or hooks would change what its checks run)
        self._isolated = isolated
        self._alive = Leftovers(self.state_dir / "alive")
        self._cli_max_turns = max_turns if cli_enforces_max_turns else None
        self._client: ClaudeSDKClient | None = None
        self._pid: int | None = None
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None
        self._stderr: deque[str] = deque(maxlen=40)
        self._credentials: tuple[str, ...] = ()  # set with the environment in _options
        self._run: QueryProgress | None = None
        #: the CLI's cumulative total_cost_usd as last seen (it counts per conversation, not per query)
        self._cost_seen = 0.0

    @property
    def home(self) -> Path | None:
        """The private HOME the agent runs with (None when it runs unconfined, with the caller's)."""
        return self._confinement.home if self._confinement is not None else None

    @property
    def pid(self) -> int | None:
        """The CLI's process id while it runs (for tests and diagnostics)."""
        return self._pid

    async def query(self, prompt: str) -> AgentResult:
        if self._run is not None:
            raise RuntimeError(f"session {self.agent!r} is already running a query")
        started = time.monotonic()
        await self._connect()
        run = self._run = QueryProgress(self.max_turns)
        try:
            self._drop_stale_messages()
            await self._send(prompt)
            error = await self._follow(run, started)
        except asyncio.CancelledError:
            self._in_doubt = True  # its result would end the next query early: use a fresh process then
            raise
        finally:
            self._run = None
            await asyncio.to_thread(self._mask_transcript)
        return self._result(run, error, time.monotonic() - started)

    async def close(self) -> None:
        await self._shutdown()
        await asyncio.to_thread(self._mask_transcript)

    def _mask_transcript(self) -> None:
        """The CLI's transcript holds what the agent saw, its own credential included if it printed it:
        mask it in place (the CLI appends to the file, so it must stay the same file)."""
        path = transcript(config_dir(self.state_dir), self.session_id) if self.session_id else None
        if path is None or not self._credentials:
            return
        with contextlib.suppress(OSError), path.open("r+", encoding="utf-8", errors="surrogateescape") as fh:
            text = fh.read()
            masked = redact(text, self._credentials)
            if masked != text:
                fh.seek(0)
                fh.write(masked)
                fh.truncate()

    # --- the process ------------------------------------------------------------------------------

    async def _connect(self) -> None:
        if self._client is not None and self._pump is not None and not self._pump.done() and not self._in_doubt:
            return
        # a CLI that exited between queries (it does after some error results), or one still busy with a
        # query whose caller was cancelled: end it, and resume the conversation in a new process
        await self._shutdown()
        self._in_doubt = False
        resume = self._resume_target()
        if self.session_id is None:
            self.session_id = str(uuid.uuid4())
        self._cost_seen = restored_cost(config_dir(self.state_dir), self.session_id) if resume else 0.0
        for folder in (config_dir(self.state_dir), tmp_dir(self.state_dir)):
            folder.mkdir(parents=True, exist_ok=True)
        client = ClaudeSDKClient(self._options(resume))
        try:
            await client.connect()
        except Exception as exc:  # the SDK raises bare Exception for an initialize timeout
            raise self._start_error(exc) from exc
        self._client, self._pid, self._inbox = client, cli_pid(client), asyncio.Queue()
        if self._confinement is not None and self._pid is not None:
            self._alive.add(self._pid)  # the launcher made the CLI a session leader: its session is findable
        self._pump = asyncio.create_task(self._read(client, self._inbox), name=f"kodo-claude-{self.agent}")
        self._started = True
        self._announce_session_id()

    def _resume_target(self) -> str | None:
        """The id to resume, or None for a new conversation (under ``session_id`` if one is set)."""
        if self.session_id is None:
            return None
        if transcript(config_dir(self.state_dir), self.session_id) is not None:
            return self.session_id
        if self._must_resume and not self._started:
            raise AgentError(
                f"cannot resume Claude Code session {self.session_id}: no transcript under "
                f"{config_dir(self.state_dir)}",
                hint="resuming needs the state directory of the run that started the session; start afresh",
            )
        return None  # a process that died before writing anything: start the same id afresh

    def _options(self, resume: str | None) -> ClaudeAgentOptions:
        # The SDK starts the CLI with os.environ plus options.env, so the scrub must see os.environ's names
        # even when kodo-bot was handed a different mapping (which wins where both have a value).
        inherited = {**os.environ, **(self._parent_env or {})}
        env = agent_environment(inherited, state_dir=self.state_dir, extra=self._env)
        # git never looks above the checkout: without its .git, git fails rather than find the user's project
        env["GIT_CEILING_DIRECTORIES"] = str(self.cwd.resolve().parent)
        # The CLI needs its own credential, and so can show it to the agent (`env`); it must not come back.
        self._credentials = tuple(v for k, v in env.items() if k in CLI_CREDENTIALS and v)
        cli_path = self._cli_path
        if self._confinement is not None:
            # Everything set above on purpose is kept; of the rest, only the allowlist reaches the CLI.
            confinement = replace(self._confinement, keep_env=self._confinement.keep_env | {k for k, v in env.items() if v})
            script = self.state_dir / "launchers" / f"{self.agent}-{uuid.uuid4().hex[:8]}.sh"
            cli_path = confinement.launcher(self._real_cli(), script, {**inherited, **env})
        return ClaudeAgentOptions(
            system_prompt=self.system_prompt,
            cwd=self.cwd,
            permission_mode="bypassPermissions",
            model=self.model,
            max_turns=self._cli_max_turns,
            resume=resume,
            session_id=None if resume else self.session_id,
            env=env,
            cli_path=cli_path,
            stderr=self._stderr.append,
            max_buffer_size=_MAX_LINE,
            setting_sources=[] if self._isolated else None,
            hooks={
                "PreToolUse": [HookMatcher(hooks=[self._gate_tool])],
                "PostToolUse": [HookMatcher(hooks=[self._after_tool])],
                "PostToolUseFailure": [HookMatcher(hooks=[self._after_tool])],
            },
        )

    def _real_cli(self) -> Path:
        if self._cli_path is not None:
            return Path(self._cli_path).resolve()
        if _executable(BUNDLED_CLI):
            return BUNDLED_CLI
        found = shutil.which("claude")
        if found is None:
            raise AgentError(cli_problem(None) or "no Claude Code CLI", hint=_CLI_HINT)
        return Path(found).resolve()

    def _start_error(self, exc: Exception) -> AgentError:
        if isinstance(exc, CLINotFoundError):
            return AgentError(f"Claude Code CLI not found: {exc}", hint=_CLI_HINT)
        text = str(exc)
        if "No conversation found" in text:
            return AgentError(f"Claude Code cannot resume session {self.session_id}: {text}",
                              hint="the session's transcript is gone; start a new session")
        return AgentError(f"Claude Code could not start: {text}{self._stderr_tail()}",
                          hint=f"check that {self.cwd} exists and the CLI runs: {_CLI_HINT}")

    def _announce_session_id(self) -> None:
        # Once per id: a resume keeps the id, so reconnecting after a timeout announces nothing new.
        if self._on_session_id is None or self.session_id in (None, self._announced):
            return
        self._announced = self.session_id
        try:
            self._on_session_id(self.session_id)
        except Exception:  # a failing listener must not take the agent down with it
            log.exception("on_session_id callback failed for %s", self.agent)

    async def _read(self, client: ClaudeSDKClient, inbox: asyncio.Queue[Any]) -> None:
        """Move the CLI's messages to the inbox, noting each in the running query as it passes (so the
        tool gate sees turns as soon as they arrive), and end with the SDK's error or ``_ENDED``."""
        try:
            async for message in client.receive_messages():
                self._note_session_id(message)
                if self._run is not None:
                    self._run.observe(message)
                inbox.put_nowait(message)
        except Exception as exc:  # ProcessError and friends: the process died; the query decides
            inbox.put_nowait(exc)
        inbox.put_nowait(_ENDED)

    def _note_session_id(self, message: object) -> None:
        # The CLI is told the id (--session-id, --resume) and echoes it; should a CLI ever pick its own,
        # the one it reports is the one a resume needs.
        reported = message.data.get("session_id") if isinstance(message, SystemMessage) else None
        if isinstance(message, ResultMessage):
            reported = message.session_id
        if isinstance(reported, str) and reported and reported != self.session_id:
            self.session_id = reported
            self._announce_session_id()

    def _drop_stale_messages(self) -> None:
        # Anything that arrived between queries (a background task waking the CLI) belongs to no query,
        # and a stale ResultMessage would end this one before it started.
        while not self._inbox.empty():
            item = self._inbox.get_nowait()
            if item is _ENDED or isinstance(item, BaseException):
                self._inbox.put_nowait(item)
                break

    async def _send(self, prompt: str) -> None:
        assert self._client is not None
        try:
            await self._client.query(prompt)
        except Exception as exc:
            await self._shutdown()
            raise AgentError(f"Claude Code stopped accepting input: {exc}{self._stderr_tail()}") from exc

    async def _shutdown(self) -> None:
        """End the CLI: the SDK closes its stdin (it saves and exits), escalating to SIGTERM and SIGKILL
        after 5 s each; then anything the CLI started that outlived it is reaped, by pid."""
        client, self._client = self._client, None
        pump, self._pump = self._pump, None
        tree, sid = process_tree(self._pid), self._pid
        self._pid = None
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
            await asyncio.to_thread(reap, tree)
        if sid is not None and self._confinement is not None:
            # whatever left the tree (a daemonised background job) but not the session, and the record
            await asyncio.to_thread(Leftovers(self._alive.folder).reap_one, sid)

    # --- one query ----------------------------------------------------------------------------------

    async def _follow(self, run: QueryProgress, started: float) -> str | None:
        """Wait for the query's ResultMessage; return why kodo-bot ended the query, if it did."""
        deadline = started + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                item = await asyncio.wait_for(self._inbox.get(), max(0.0, min(self.idle_timeout_s, left)))
            except TimeoutError:
                await self._abort()
                return run.limit_error() or self._timeout_error(left)
            if item is _ENDED or isinstance(item, BaseException):
                await self._crashed(item)
            if isinstance(item, ResultMessage):
                return run.limit_error()
            if run.over_limit and not run.stopping:
                run.stopping = True  # from now on the tool gate refuses everything
                if not await self._interrupt():
                    await self._shutdown()
                    return run.limit_error()

    def _timeout_error(self, left: float) -> str:
        if left <= self.idle_timeout_s:
            return f"hard timeout: the query ran longer than {self.timeout_s:g}s"
        return f"idle timeout: no message from Claude Code for {self.idle_timeout_s:g}s"

    async def _interrupt(self) -> bool:
        assert self._client is not None
        try:
            await asyncio.wait_for(self._client.interrupt(), _GRACE_S)
            return True
        except Exception:
            log.debug("interrupting Claude Code failed", exc_info=True)
            return False

    async def _abort(self) -> None:
        """Stop an overrunning query: interrupt (so the CLI records the turn), then end the process."""
        if self._client is not None and await self._interrupt():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._until_result(), _GRACE_S)
        await self._shutdown()

    async def _until_result(self) -> None:
        while not isinstance(item := await self._inbox.get(), ResultMessage):
            if item is _ENDED or isinstance(item, BaseException):
                return

    async def _crashed(self, item: object) -> NoReturn:
        code = getattr(item, "exit_code", None)
        status = f" with exit code {code}" if code is not None else ""
        await self._shutdown()
        message = f"Claude Code exited{status} in the middle of a query{self._stderr_tail()}"
        raise AgentError(message, hint="the session can be resumed by its id") from (
            item if isinstance(item, BaseException) else None
        )

    async def _gate_tool(self, hook_input: Any, tool_use_id: str | None, context: Any) -> dict[str, Any]:
        """PreToolUse hook: refuse any tool requested past the turn limit, and stop the turn.

        The hook may run before the reader has seen the message that asked for the tool, so it waits
        (briefly) for that tool_use to be observed before deciding which turn it belongs to.
        """
        run = self._run
        if run is None or tool_use_id is None:
            return {}
        if self._watch is not None:
            # The tool waits for this hook, so what the watch sees is the checkout the tool will run on.
            run.checkout_before[tool_use_id] = await asyncio.to_thread(self._watch)
        turn = await run.turn_of(tool_use_id, _GRACE_S)
        if not run.stopping and (turn if turn is not None else run.turns) <= run.limit:
            return {}
        reason = f"kodo-bot: turn limit {run.limit} reached"
        return {
            "continue_": False,
            "stopReason": reason,
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            },
        }

    async def _after_tool(self, hook_input: Any, tool_use_id: str | None, context: Any) -> dict[str, Any]:
        """PostToolUse(Failure) hook: what the tool left in a watched checkout."""
        run = self._run
        if run is not None and tool_use_id is not None and self._watch is not None:
            run.checkout_after[tool_use_id] = await asyncio.to_thread(self._watch)
        return {}

    def _result(self, run: QueryProgress, error: str | None, duration_s: float) -> AgentResult:
        result = run.result
        cost = 0.0
        if result is not None and result.total_cost_usd is not None:
            # total_cost_usd is cumulative for the conversation (restored on resume): charge the increase
            cost = max(0.0, result.total_cost_usd - self._cost_seen)
            self._cost_seen = result.total_cost_usd
        if error is None and result is not None and result.is_error:
            error = result_error(result, self.max_turns)
        text = run.last_text
        if result is not None and not result.is_error and result.result:
            text = result.result
        return without_secrets(AgentResult(
            agent=self.agent,
            text=text,
            turns=run.turns,
            usage=usage_from(result.usage) if result is not None and result.usage else run.streamed_usage(),
            cost_usd=cost,
            session_id=self.session_id,
            is_error=error is not None,
            error=error,
            tool_calls=run.tool_calls(),
            duration_s=round(duration_s, 3),
        ), self._credentials)

    def _stderr_tail(self) -> str:
        lines = [line for line in self._stderr if line.strip()][-8:]
        return (":\n" + "\n".join(lines)) if lines else ""


