"""Claude Code sessions: one agent conversation in one CLI process, driven through claude-agent-sdk.

``ClaudeSessionFactory`` opens ``ClaudeSession``s for the engine (the ``SessionFactory`` seam in
``engine/ports.py``). A session keeps one CLI process for all its queries, and turns the CLI's message
stream into an ``AgentResult``: final text, turns, usage, cost and, as evidence, every tool call paired with
the result the CLI reported (for Bash, with the exit status the CLI saw).

Limits are enforced here rather than trusted to the backend. Turns (model responses) are counted as they
stream in; past ``max_turns`` a PreToolUse hook refuses further tools and the turn is interrupted. An idle
timeout (no message for ``idle_timeout_s``) or the hard timeout (``timeout_s`` per query) interrupts the
turn, ends the CLI process and reaps anything it left running. The next ``query`` on the same session then
starts a new process that resumes the conversation by its id (same ``CLAUDE_CONFIG_DIR``).

The session only sequences; each job has a module of its own:

- ``_claude_options``: which CLI binary, environment and SDK options a process is started with;
- ``_claude_hooks``: the tool hooks (the turn gate, the checkout watch's records);
- ``_claude_process``: one CLI process, from start to reaping what it left running;
- ``_claude_conversation``: the conversation on disk (id, resume, cost so far, masked transcript);
- ``_claude_stream``: the message stream turned into kodo-bot values.

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
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from claude_agent_sdk import ResultMessage

from kodo_bot.agents._claude_conversation import Conversation
from kodo_bot.agents._claude_hooks import ToolHooks
from kodo_bot.agents._claude_options import (
    BUNDLED_CLI,
    CLI_HINT,
    LaunchSpec,
    cli_credentials,
    cli_problem,
    sdk_options,
)
from kodo_bot.agents._claude_process import CliProcess
from kodo_bot.agents._claude_stream import QueryProgress, bash_exit_code, result_error, usage_from, without_secrets
from kodo_bot.agents.env import config_dir, tmp_dir
from kodo_bot.confine import Confinement, Leftovers, git_exposure, sandbox_problem
from kodo_bot.engine.models import AgentResult
from kodo_bot.errors import AgentError

__all__ = ["BUNDLED_CLI", "ClaudeSession", "ClaudeSessionFactory", "bash_exit_code", "cli_problem"]


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
            agent=agent,
            system_prompt=system_prompt,
            cwd=cwd,
            state_dir=self.state_dir,
            model=model,
            max_turns=max_turns,
            idle_timeout_s=idle_timeout_s,
            timeout_s=timeout_s,
            resume=resume,
            cli_path=self.cli_path,
            parent_env=self.parent_env,
            env=self.env,
            on_session_id=(lambda sid: callback(agent, sid)) if callback else None,
            watch=watch,
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
            home=home.resolve(),
            keep_env=frozenset(self.agent_env),
            # The CLI cannot write its shell snapshot (frozen below), so its Bash tool runs a login shell, whose
            # /etc/profile would reset PATH to the system's: hidden, the agent keeps the PATH it was given.
            hidden=(*hidden, Path("/etc/profile")),
            readable=(cli.parent, *readable),
            frozen=tuple(
                config_dir(self.state_dir).resolve() / name
                for name in ("shell-snapshots", "session-env", "settings.json")
            ),
            bwrap=self.sandbox and sandbox_problem() is None,
        )


class ClaudeSession:
    """One agent conversation with Claude Code. The CLI starts at the first ``query``; ``close()`` ends it.

    ``parent_env`` and ``env`` are as for ``ClaudeSessionFactory``. ``resume`` continues an earlier
    conversation by its id (it must have run with the same ``state_dir``).
    After a timeout the process is gone but the session is not: the next ``query`` resumes it. One query at
    a time; a session belongs to the event loop it first ran in (the SDK's reader tasks live there).
    ``cli_enforces_max_turns=False`` leaves the CLI's own limit off, which tests use to prove that
    kodo-bot's count holds by itself. ``isolated`` loads no settings file (see ``LaunchSpec``).
    """

    # Long for its keyword signature (every launch option a caller may set); the body only stores them.
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
        if problem := cli_problem(cli_path):
            raise AgentError(problem, hint=CLI_HINT)
        self.agent = agent
        self.max_turns = max_turns
        self.idle_timeout_s = idle_timeout_s
        self.timeout_s = timeout_s
        self._launch = LaunchSpec(
            agent=agent,
            system_prompt=system_prompt,
            cwd=Path(cwd),
            state_dir=Path(state_dir),
            model=model,
            cli_max_turns=max_turns if cli_enforces_max_turns else None,
            cli_path=cli_path,
            parent_env=dict(parent_env) if parent_env is not None else None,
            env=dict(env or {}),
            confinement=confinement,
            isolated=isolated,
        )
        self._conversation = Conversation(self._launch.state_dir, agent=agent, resume=resume, on_id=on_session_id)
        self._hooks = ToolHooks(lambda: self._run, watch)
        self._alive = Leftovers(self._launch.state_dir / "alive") if confinement is not None else None
        self._cli: CliProcess | None = None
        self._run: QueryProgress | None = None
        self._in_doubt = False  # a query was abandoned midway: its turn may still be running
        self._credentials: tuple[str, ...] = ()  # the CLI's own, as set in its environment at the last start

    @property
    def session_id(self) -> str | None:
        """The conversation's id: set from the first ``query`` on (or by ``resume``)."""
        return self._conversation.id

    @property
    def home(self) -> Path | None:
        """The private HOME the agent runs with (None when it runs unconfined, with the caller's)."""
        confinement = self._launch.confinement
        return confinement.home if confinement is not None else None

    @property
    def pid(self) -> int | None:
        """The CLI's process id while it runs (for tests and diagnostics)."""
        return self._cli.pid if self._cli is not None else None

    async def start(self) -> None:
        """Start the CLI now instead of at the first ``query`` (the engine does, for verifiers, to take the
        start off the critical path). The CLI asks the model nothing until a query comes."""
        if self._run is not None:
            raise RuntimeError(f"session {self.agent!r} is already running a query")
        await self._connect()

    async def query(self, prompt: str) -> AgentResult:
        if self._run is not None:
            raise RuntimeError(f"session {self.agent!r} is already running a query")
        started = time.monotonic()
        cli = await self._connect()
        run = self._run = QueryProgress(self.max_turns)
        try:
            cli.drop_stale_messages()
            await cli.send(prompt)
            error = await self._follow(cli, run, started)
        except asyncio.CancelledError:
            self._in_doubt = True  # its result would end the next query early: use a fresh process then
            raise
        finally:
            self._run = None
            await asyncio.to_thread(self._conversation.mask_transcript, self._credentials)
        return self._result(run, error, time.monotonic() - started)

    async def close(self) -> None:
        if self._cli is not None:
            await self._cli.stop()
        await asyncio.to_thread(self._conversation.mask_transcript, self._credentials)

    async def _connect(self) -> CliProcess:
        """The running CLI, or a new one that resumes the conversation."""
        cli = self._cli
        if cli is not None and cli.running and not self._in_doubt:
            return cli
        if cli is not None:
            # a CLI that exited between queries (it does after some error results), or one still busy with a
            # query whose caller was cancelled: end it, and resume the conversation in a new process
            await cli.stop()
        self._in_doubt = False
        session_id, resume = self._conversation.prepare_process()
        options = sdk_options(self._launch, session_id=session_id, resume=resume, hooks=self._hooks.matchers())
        self._credentials = cli_credentials(options.env)
        self._cli = await CliProcess.start(
            options, on_message=self._observe, alive=self._alive, name=f"kodo-claude-{self.agent}"
        )
        self._conversation.process_started()
        return self._cli

    def _observe(self, message: object) -> None:
        # Seen as the message arrives, before the query loop takes it: the tool gate counts turns from it.
        self._conversation.note(message)
        if self._run is not None:
            self._run.observe(message)

    async def _follow(self, cli: CliProcess, run: QueryProgress, started: float) -> str | None:
        """Wait for the query's ResultMessage; return why kodo-bot ended the query, if it did."""
        deadline = started + self.timeout_s
        while True:
            left = deadline - time.monotonic()
            try:
                item = await cli.next(max(0.0, min(self.idle_timeout_s, left)))
            except TimeoutError:
                await cli.abort()
                return run.limit_error() or self._timeout_error(left)
            if isinstance(item, ResultMessage):
                return run.limit_error()
            if run.over_limit and not run.stopping:
                run.stopping = True  # from now on the tool gate refuses everything
                if not await cli.interrupt():
                    await cli.stop()
                    return run.limit_error()

    def _timeout_error(self, left: float) -> str:
        if left <= self.idle_timeout_s:
            return f"hard timeout: the query ran longer than {self.timeout_s:g}s"
        return f"idle timeout: no message from Claude Code for {self.idle_timeout_s:g}s"

    def _result(self, run: QueryProgress, error: str | None, duration_s: float) -> AgentResult:
        result = run.result
        cost = self._conversation.charge(result)
        if error is None and result is not None and result.is_error:
            error = result_error(result, self.max_turns)
        text = result.result if result is not None and not result.is_error and result.result else run.last_text
        return without_secrets(
            AgentResult(
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
            ),
            self._credentials,
        )
