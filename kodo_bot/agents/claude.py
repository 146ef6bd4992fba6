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

The session (``_claude_session``, with claude-agent-sdk, loaded in the background by ``warm_up``) only
sequences; each job has a module of its own:

- ``_claude_cli``: finding the CLI binary, without importing the SDK;
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

import gc
import os
import shutil
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kodo_bot.agents._claude_cli import BUNDLED_CLI, cli_problem
from kodo_bot.agents.env import config_dir, tmp_dir
from kodo_bot.confine import Confinement, git_exposure, sandbox_problem

if TYPE_CHECKING:
    from kodo_bot.agents._claude_session import ClaudeSession
    from kodo_bot.agents._claude_stream import bash_exit_code
    from kodo_bot.agents.browser import BrowserSession

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
        browsers: frozenset[str] = frozenset(),
    ) -> None:
        self.state_dir = Path(state_dir)
        #: agents that get a headless browser (``browser: true``; ``agents/browser.py``)
        self.browsers = browsers
        #: confine each CLI with bubblewrap where it can run (else only the environment allowlist holds)
        self.sandbox = sandbox
        #: variable names the team or .github/kodo.yml let through to agents (``agent_env``)
        self.agent_env = tuple(agent_env)
        self.cli_path = Path(cli_path) if cli_path is not None else None
        self.parent_env = dict(parent_env) if parent_env is not None else None
        self.env = dict(env or {})
        self.on_session_id = on_session_id

    def warm_up(self) -> None:
        """Load claude-agent-sdk in the background (once per process); the engine calls this while the
        orchestrator thinks, so the first delegation's CLI start does not wait for the import."""
        _load_sessions_in_background()

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
    ) -> ClaudeSession | BrowserSession:
        # ``role`` is already the first line of system_prompt (role_marker); the session needs nothing else.
        from kodo_bot.agents._claude_session import ClaudeSession  # waits for the background load, if it runs

        callback = self.on_session_id
        confinement = self.confinement(agent, cwd, fresh_home=role.startswith("verifier/"))
        kit = None
        if agent in self.browsers:
            from kodo_bot.agents.browser import give_browser

            kit = give_browser(
                self.parent_env if self.parent_env is not None else os.environ, confinement, self.state_dir
            )
            confinement, watch = kit.confinement, kit.seal.around(watch)
        session = ClaudeSession(
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
            confinement=confinement,
            isolated=role.startswith("verifier/"),
            mcp_servers=kit.mcp_servers if kit else None,
        )
        if kit is None:
            return session
        from kodo_bot.agents.browser import BrowserSession

        return BrowserSession(session, kit.seal)

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


def __getattr__(name: str) -> Any:
    """``ClaudeSession`` and ``bash_exit_code`` are loaded when first asked for (with claude-agent-sdk)."""
    if name == "ClaudeSession":
        from kodo_bot.agents._claude_session import ClaudeSession

        return ClaudeSession
    if name == "bash_exit_code":
        from kodo_bot.agents._claude_stream import bash_exit_code

        return bash_exit_code
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_loading = threading.Lock()
_loader: threading.Thread | None = None


def _load_sessions_in_background() -> None:
    """Import the session module (claude-agent-sdk, about a second of CPU) in a thread, once per process. An
    ``open`` that comes sooner waits for it (Python's import lock). The objects the import made live as long
    as the process: frozen, the garbage collector no longer walks them, during the run or at exit."""
    global _loader
    with _loading:
        if _loader is None:
            _loader = threading.Thread(target=_load_sessions, name="kodo-load-claude-sdk", daemon=True)
            _loader.start()


def _load_sessions() -> None:
    import kodo_bot.agents._claude_session  # noqa: F401 - loaded for its side effect: the module is ready

    gc.freeze()
