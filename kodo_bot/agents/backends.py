"""One session factory for a team whose agents run on different CLIs: each agent on its ``backend:``.

``BackendSessionFactory`` is what the composition root hands the engine. It opens Claude Code sessions
through ``ClaudeSessionFactory`` (unchanged) and sessions on the JSON-lines CLIs through ``CliSession`` with
the backend's flavor: ``gemini_cli`` (``agents/gemini_cli.py``), ``codex`` (``agents/codex.py``) and
``cursor`` (``agents/cursor.py``). It finds each CLI (``KODO_GEMINI_CLI``, ``KODO_CODEX_CLI``,
``KODO_CURSOR_CLI`` in the environment it was given, else ``gemini``, ``codex``, ``cursor-agent`` on PATH)
and checks its version once, so ``available`` can say, before any work starts, why an agent is left out:
the CLI is missing, or is a version kodo-bot was not built for (naming both).

It deliberately decides nothing about prompts or limits: the engine passes those to ``open`` as it does for
Claude Code, and every backend's session enforces them the same way.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kodo_bot.confine import Confinement, git_exposure, sandbox_problem

if TYPE_CHECKING:
    from kodo_bot.agents._cli_session import CliSession, Flavor
    from kodo_bot.agents.claude import ClaudeSessionFactory
    from kodo_bot.engine.ports import Session

#: every backend a team file may name, as the team file spells it
BACKENDS = ("claude_code", "codex", "gemini_cli", "cursor")


@dataclass(frozen=True)
class CliBackend:
    """How to find one JSON-lines CLI and which version of it kodo-bot drives."""

    name: str
    title: str
    variable: str
    executable: str
    #: ``major.minor`` kodo-bot was built for; None when the version cannot be checked (no binary here)
    version: str | None
    install: str
    #: where no version can be pinned: what its ``--help`` must offer, the options kodo-bot drives it with
    needs: tuple[str, ...] = ()


CLIS = {
    "gemini_cli": CliBackend(
        "gemini_cli", "Gemini CLI", "KODO_GEMINI_CLI", "gemini", "0.61", "npm install -g @google/gemini-cli@0.61.0"
    ),
    "codex": CliBackend(
        "codex", "Codex CLI", "KODO_CODEX_CLI", "codex", "0.169", "npm install -g @openai/codex@0.169.0"
    ),
    "cursor": CliBackend(
        "cursor",
        "Cursor CLI",
        "KODO_CURSOR_CLI",
        "cursor-agent",
        None,
        "curl https://cursor.com/install -fsS | bash",
        needs=("--output-format", "stream-json", "--resume", "--force"),
    ),
}


class BackendSessionFactory:
    """Opens each agent's session on its own backend. ``backends`` maps agent names to backend names
    (agents not named run on Claude Code); the other arguments are as for ``ClaudeSessionFactory``, plus
    ``alive``, where the JSON-lines CLIs' process sessions are recorded (the folder the run reaps after a
    crash)."""

    def __init__(
        self,
        *,
        backends: Mapping[str, str],
        state_dir: Path,
        parent_env: Mapping[str, str],
        claude: Callable[[], ClaudeSessionFactory],
        alive: Path | None = None,
        sandbox: bool = True,
        agent_env: tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.backends = dict(backends)
        self.state_dir = Path(state_dir)
        self.parent_env = dict(parent_env)
        self.alive = alive
        self.sandbox = sandbox
        self.agent_env = tuple(agent_env)
        self.env = dict(env or {})
        self._make_claude = claude
        self._claude: ClaudeSessionFactory | None = None

    @property
    def claude(self) -> ClaudeSessionFactory:
        if self._claude is None:
            self._claude = self._make_claude()
        return self._claude

    def warm_up(self) -> None:
        if "claude_code" in self.backends.values() or len(self.backends) == 0:
            self.claude.warm_up()

    def available(self, backend: str) -> str | None:
        if backend == "claude_code":
            return self.claude.available(backend)
        cli = CLIS.get(backend)
        if cli is None:
            return f"kodo-bot has no agent backend called {backend!r} (it knows {', '.join(BACKENDS)})"
        return cli_problem(cli, self.cli_path(cli))

    def cli_path(self, cli: CliBackend) -> Path | None:
        return cli_path(cli, self.parent_env)

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
    ) -> Session | CliSession:
        backend = self.backends.get(agent, "claude_code")
        limits: dict[str, Any] = {"max_turns": max_turns, "idle_timeout_s": idle_timeout_s, "timeout_s": timeout_s}
        if backend == "claude_code":
            return self.claude.open(agent=agent, role=role, system_prompt=system_prompt, model=model, cwd=cwd,
                                    resume=resume, watch=watch, **limits)  # fmt: skip
        from kodo_bot.agents._cli_session import CliLaunch, CliSession
        from kodo_bot.errors import AgentError

        cli = CLIS[backend]
        path = self.cli_path(cli)
        if problem := cli_problem(cli, path):
            raise AgentError(problem, hint=f"install it: {cli.install}")
        assert path is not None
        state = self.state_dir / backend
        verifier = role.startswith("verifier/")
        name = f"{agent}-{Path(cwd).resolve().name}" if verifier else agent
        confinement = self.confinement(agent, Path(cwd), path, state / "homes" / name, fresh=verifier)
        # Cursor keeps its chats under HOME and has no setting to move them: its state stays there
        cli_home = confinement.home if backend == "cursor" else (state / "cli-homes" / name).resolve()
        if verifier and cli_home != confinement.home:
            shutil.rmtree(cli_home, ignore_errors=True)
        launch = CliLaunch(
            agent=agent,
            system_prompt=system_prompt,
            cwd=Path(cwd),
            state_dir=state,
            model=model,
            cli=path,
            confinement=replace(confinement, writable=(*confinement.writable, cli_home)),
            cli_home=cli_home,
            parent_env=self.parent_env,
            env=self.env,
            alive=self.alive,
        )
        return CliSession(
            flavor(backend, self.parent_env, Path(cwd), isolated=verifier), launch, resume=resume, watch=watch, **limits
        )

    def confinement(self, agent: str, cwd: Path, cli: Path, home: Path, *, fresh: bool) -> Confinement:
        """As Claude Code's (``ClaudeSessionFactory.confinement``): the checkout and a private HOME writable,
        the repository's config hidden. A verifier gets an empty HOME of its own per checkout (``fresh``)."""
        cwd = cwd.resolve()
        if fresh:
            shutil.rmtree(home, ignore_errors=True)
        readable, hidden = git_exposure(cwd)
        return Confinement(
            writable=(cwd,),
            home=home.resolve(),
            keep_env=frozenset(self.agent_env),
            hidden=(*hidden, Path("/etc/profile")),
            readable=(*_install_of(cli), *readable),
            bwrap=self.sandbox and sandbox_problem() is None,
            cli_env=False,
        )


def _install_of(cli: Path) -> tuple[Path, ...]:
    """What the confined CLI must be able to read to start: the folder it is called from, and for an npm
    install the whole ``node_modules`` it lives in (its script, the packages it loads, its native binary),
    wherever that is (under /tmp or HOME, which the sandbox hides)."""
    found = {cli.parent.resolve(), cli.resolve().parent}
    for path in (cli.absolute(), cli.resolve()):
        roots = [p for p in path.parents if p.name == "node_modules"]
        if roots:
            found.add(roots[-1].resolve())
    return tuple(sorted(found))


def unverifiable(verifiers: Iterable[tuple[str, str, tuple[str, ...]]], factory: BackendSessionFactory) -> str | None:
    """Why no verifier can run here, when there are verifiers (``(name, backend, requires)`` of each) and
    every one of them would be left out (its CLI missing, another version, a required tool missing); None
    otherwise. A run with verifiers on paper and none in fact must not start, let alone be accepted on the
    checks alone."""
    reasons = {}
    for name, backend, requires in verifiers:
        lacking = [tool for tool in requires if shutil.which(tool) is None]
        why = factory.available(backend) or (f"needs {', '.join(lacking)} on PATH" if lacking else None)
        if why is None:
            return None
        reasons[name] = why
    if not reasons:
        return None
    return "every verifier would be left out: " + "; ".join(f"{name}: {why}" for name, why in reasons.items())


def flavor(backend: str, parent_env: Mapping[str, str], cwd: Path, *, isolated: bool = False) -> Flavor:
    """The backend's flavor for a session in ``cwd``; ``isolated`` (a verifier) reads no project memory."""
    if backend == "gemini_cli":
        from kodo_bot.agents.gemini_cli import GeminiCli

        return GeminiCli(parent_env, isolated=isolated)
    if backend == "codex":
        from kodo_bot.agents.codex import CodexCli

        return CodexCli(parent_env, cwd, isolated=isolated)
    from kodo_bot.agents.cursor import CursorCli

    return CursorCli(parent_env, isolated=isolated)


def cli_path(cli: CliBackend, env: Mapping[str, str]) -> Path | None:
    """Where the CLI is: the variable naming it, else its executable on the environment's PATH."""
    found = env.get(cli.variable) or shutil.which(cli.executable, path=env.get("PATH", os.defpath))
    return Path(found) if found else None


def cli_problem(cli: CliBackend, path: Path | None) -> str | None:
    """Why this CLI cannot run here (missing, not executable, another version), or None."""
    if path is None:
        return f"{cli.title} not found ({cli.executable} is not on PATH and {cli.variable} is not set); {cli.install}"
    if not os.access(path, os.X_OK):
        return f"{cli.title} at {path} is not executable"
    if cli.version is None:
        return _lacking(cli, path)
    found = cli_version(str(path))
    if found is None:
        return f"{cli.title} at {path} did not say its version (`{cli.executable} --version`)"
    if not (found == cli.version or found.startswith(f"{cli.version}.")):
        return f"{cli.title} {found} at {path} is not supported: kodo-bot needs {cli.version}.x ({cli.install})"
    return None


def _lacking(cli: CliBackend, path: Path) -> str | None:
    """An unpinned CLI too old (or not the one meant): its ``--help`` lacks an option kodo-bot uses."""
    if not cli.needs:
        return None
    said = {flag: _ask(path, flag) for flag in ("--help", "--version")}
    lacking = [option for option in cli.needs if option not in said["--help"]]
    if not lacking:
        return None
    version = said["--version"].strip().splitlines()[0][:80] if said["--version"].strip() else "no version said"
    return (
        f"{cli.title} {version} at {path} is not supported: kodo-bot drives it with {' '.join(cli.needs)}, and its "
        f"--help lacks {', '.join(lacking)}; update it ({cli.install})"
    )


@functools.cache
def _ask(path: Path, flag: str) -> str:
    """What ``<cli> <flag>`` printed (asked once per path and process, as ``cli_version``)."""
    try:
        done = subprocess.run([str(path), flag], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return f"{done.stdout}{done.stderr}"


_VERSION = re.compile(r"(\d+\.\d+\.\d+)")


@functools.cache
def cli_version(path: str) -> str | None:
    """``<cli> --version``'s version number (asked once per path and process)."""
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION.search(done.stdout or "")
    return match.group(1) if match else None
