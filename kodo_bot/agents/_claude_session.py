"""One Claude Code session: one agent conversation in one CLI process (see ``kodo_bot.agents.claude`` for
what it does, the errors it raises and what it deliberately leaves to the engine). It imports
claude-agent-sdk, which takes about a second: ``ClaudeSessionFactory`` loads this module in the background.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from claude_agent_sdk import ResultMessage

from kodo_bot.agents._claude_cli import CLI_HINT, cli_problem
from kodo_bot.agents._claude_conversation import Conversation
from kodo_bot.agents._claude_hooks import ToolHooks
from kodo_bot.agents._claude_options import LaunchSpec, cli_credentials, sdk_options
from kodo_bot.agents._claude_process import CliProcess
from kodo_bot.agents._claude_stream import QueryProgress, result_error, usage_from, without_secrets
from kodo_bot.agents.env import claude_billing
from kodo_bot.confine import Confinement, Leftovers
from kodo_bot.engine.models import AgentResult, Bucket
from kodo_bot.errors import AgentError


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
        mcp_servers: Mapping[str, Any] | None = None,
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
            mcp_servers=dict(mcp_servers or {}),
        )
        self._conversation = Conversation(self._launch.state_dir, agent=agent, resume=resume, on_id=on_session_id)
        self._hooks = ToolHooks(lambda: self._run, watch)
        self._alive = Leftovers(self._launch.state_dir / "alive") if confinement is not None else None
        self._cli: CliProcess | None = None
        self._run: QueryProgress | None = None
        self._in_doubt = False  # a query was abandoned midway: its turn may still be running
        self._credentials: tuple[str, ...] = ()  # the CLI's own, as set in its environment at the last start
        self._billing: Bucket = "subscription"  # who pays, by that credential (``claude_billing``)

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
        start off the critical path). The CLI asks the model nothing until a query comes. It does read the
        project's memory (CLAUDE.md) at start when it loads settings: an ``isolated`` session loads none, so
        one started before its checkout is filled asks what it would have asked started after."""
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
        self._credentials, self._billing = cli_credentials(options.env), claude_billing(options.env)
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
                billing=self._billing,
            ),
            self._credentials,
        )
