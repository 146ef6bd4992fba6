"""Confining an agent's CLI, and the engine's check commands, with bubblewrap.

An agent runs shell commands as the same user as kodo-bot. Blanking its environment is not enough: it could
read ``/proc/<parent>/environ`` (kodo-bot's, the runner's step shell's), ``~/.git-credentials``, the runner's
own credentials, or leave a process running that edits the tree after the run moved on. So each agent CLI
(and each check command) runs under ``bwrap`` with:

- its own PID namespace and ``/proc``: no other process is visible, so no other environment or memory;
  when the CLI exits, or kodo-bot dies (``--die-with-parent``), every process in it is killed;
- the whole file system read-only, with a private ``/tmp``, a private, writable ``HOME``, and only the
  checkout (and the CLI's own state folders) writable;
- credentials on disk hidden: ``~/.ssh``, ``~/.git-credentials``, cloud and package-registry logins, the
  user's own Claude login, kodo-bot's other runs, the Actions runner's credentials and its temp folder
  (which holds the step's environment files), and the ``config`` of the repository the checkout belongs to
  (where ``actions/checkout`` keeps its token);
- an environment built from an allowlist (``env -i``): PATH, locale, TERM, TZ, the CLI's own credential and
  settings, toolchain homes (pyenv, rustup, nvm ...) and the names the team or ``.github/kodo.yml`` list.

Network stays open: the CLI needs its model API, and tests need package registries. What it does not stop:
an agent reading the CLI's own credential (it must run with it), reading world-readable files that are not
on the list above, or using the network. Where bubblewrap cannot run (not installed, no user namespaces,
macOS), ``sandbox_problem`` says why; the caller warns loudly and falls back to process-group reaping.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: always kept, when set
BASE_ENV = (
    "PATH",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TERM",
    "TZ",
    "PWD",
    "SHELL",
    "USER",
    "LOGNAME",
)
#: where version managers keep toolchains; kept pointing at the real home, since HOME becomes private
TOOLCHAIN_HOMES = {
    "PYENV_ROOT": ".pyenv",
    "RUSTUP_HOME": ".rustup",
    "CARGO_HOME": ".cargo",
    "NVM_DIR": ".nvm",
    "VOLTA_HOME": ".volta",
    "ASDF_DATA_DIR": ".asdf",
    "GOPATH": "go",
    "SDKMAN_DIR": ".sdkman",
    "BUN_INSTALL": ".bun",
    "DENO_INSTALL": ".deno",
    "PNPM_HOME": ".local/share/pnpm",
}
#: prefixes of variables the Claude agent SDK and CLI set for themselves
CLI_PREFIXES = ("CLAUDE_CODE_", "CLAUDE_AGENT_SDK", "ANTHROPIC_")
#: what claude-agent-sdk sets when it starts the CLI (after the launcher script was written)
SDK_SETS = (
    "CLAUDE_CODE_ENTRYPOINT",
    "CLAUDE_AGENT_SDK_VERSION",
    "CLAUDE_AGENT_SDK_CLIENT_APP",
    "CLAUDE_AGENT_SDK_DERIVED_CLIENT_APP",
    "CLAUDE_CODE_SDK_READS_SESSION_STATE",
    "CLAUDE_CODE_ENABLE_SDK_FILE_CHECKPOINTING",
    "TRACEPARENT",
    "TRACESTATE",
)
#: files and folders under HOME that hold credentials
HOME_SECRETS = (
    ".ssh",
    ".git-credentials",
    ".gitconfig",
    ".config/git",
    ".netrc",
    ".aws",
    ".azure",
    ".config/gcloud",
    ".kube",
    ".docker",
    ".gnupg",
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    ".pypirc",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".config/gh",
    ".config/hub",
    ".claude",
    ".claude.json",
    ".kodo-bot",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".local/share/keyrings",
    ".password-store",
    ".terraform.d",
    ".vault-token",
    ".m2/settings.xml",
    ".gradle/gradle.properties",
    ".config/op",
    ".pgpass",
    ".my.cnf",
)
#: an Actions runner's own credentials, in its installation folder
RUNNER_SECRETS = (".credentials", ".credentials_rsaparams", ".runner", ".env", ".path")
#: sockets that hand out capabilities: agents (ssh, gpg) in the user's runtime folder, the Docker daemon
SOCKETS = (Path("/run/user"), Path("/var/run/docker.sock"), Path("/run/docker.sock"))


@functools.cache
def sandbox_problem() -> str | None:
    """None when bubblewrap can confine processes here, else a sentence saying why not."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed: `apt-get install bubblewrap`"
    try:
        trial = subprocess.run(
            [
                bwrap,
                "--ro-bind",
                "/",
                "/",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "--unshare-pid",
                "--die-with-parent",
                "true",
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap could not run: {exc}"
    if trial.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {trial.stderr.strip()[:300]}"
    return None


@dataclass(frozen=True)
class Confinement:
    """What one confined process may touch. Paths are absolute."""

    #: the checkout and the CLI's own state folders: the only writable places of the user's
    writable: tuple[Path, ...]
    #: the private HOME (created, writable)
    home: Path
    #: names kept in the environment, beyond BASE_ENV and the CLI's own prefixes
    keep_env: frozenset[str] = frozenset()
    #: more paths to hide (the checkout's repository config, say)
    hidden: tuple[Path, ...] = ()
    #: readable again although under a hidden place (the CLI binary, git objects)
    readable: tuple[Path, ...] = ()
    real_home: Path | None = field(default=None)
    #: confine with bubblewrap; False keeps only the environment allowlist (where bwrap cannot run)
    bwrap: bool = True
    #: keep the agent CLI's own variables (its credential, its settings); off for check commands
    cli_env: bool = True
    #: read-only even inside a writable place: what the CLI sources before every command (its shell
    #: snapshots and session environment) and the settings it reloads while it runs (``env``, hooks), which
    #: an agent must not be able to rewrite (folders, or ``.json`` files created as ``{}``)
    frozen: tuple[Path, ...] = ()
    #: hidden even inside a writable place (files of the checkout a verifier's CLI would take its instructions
    #: or settings from, and has no option to ignore); mounted last, over the writable binds
    masked: tuple[Path, ...] = ()

    def bwrap_args(self, parent_env: Mapping[str, str]) -> list[str]:
        args = [
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-ipc",
            "--new-session",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
        ]
        # Broad places first, then what must stay readable inside them, then narrow hides, then the writable.
        args += _hide(self._to_hide(parent_env))
        for path in self.readable:
            if path.exists():
                args += ["--ro-bind", str(path), str(path)]
        args += _hide(self.hidden)
        self.home.mkdir(parents=True, exist_ok=True)
        for path in (*self.writable, self.home):
            path.mkdir(parents=True, exist_ok=True)
            args += ["--bind", str(path), str(path)]
        for path in self.frozen:
            if path.suffix == ".json":
                if not path.exists():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("{}\n", encoding="utf-8")
            else:
                path.mkdir(parents=True, exist_ok=True)
            args += ["--ro-bind", str(path), str(path)]
        return args + _hide(self.masked)

    def _to_hide(self, env: Mapping[str, str]) -> list[Path]:
        hidden: list[Path] = [*SOCKETS]
        home = self.real_home or (Path(env["HOME"]) if env.get("HOME") else None)
        if home is not None and str(home) not in ("", "/"):
            hidden += [home / rel for rel in HOME_SECRETS]
        if env.get("RUNNER_TEMP"):
            hidden.append(Path(env["RUNNER_TEMP"]))
        workspace = env.get("RUNNER_WORKSPACE")
        if workspace:
            runner_root = Path(workspace).parent.parent  # <root>/_work/<repo>
            hidden += [runner_root / name for name in RUNNER_SECRETS]
        return hidden

    def environment(self, parent_env: Mapping[str, str]) -> dict[str, str]:
        """The whole environment the confined process gets: the allowlist, and HOME made private."""
        env = {k: v for k, v in parent_env.items() if k in self._names(parent_env)}
        real_home = self.real_home or (Path(parent_env["HOME"]) if parent_env.get("HOME") else None)
        for name, rel in TOOLCHAIN_HOMES.items():
            if parent_env.get(name):
                env[name] = parent_env[name]
            elif real_home is not None and (real_home / rel).exists():
                env[name] = str(real_home / rel)
        env["HOME"] = str(self.home)
        return env

    def command(self, argv: Sequence[str], parent_env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        """``argv`` wrapped (inside bwrap, when on), and the whole environment to start it with."""
        if not self.bwrap:
            return list(argv), self.environment(parent_env)
        bwrap = shutil.which("bwrap") or "bwrap"
        return [bwrap, *self.bwrap_args(parent_env), "--", *argv], self.environment(parent_env)

    def launcher(self, target: Path, script: Path, parent_env: Mapping[str, str]) -> Path:
        """A script that runs ``target`` confined, for callers that only take a program path (the SDK's
        ``cli_path``). It holds names and paths, never a value: each kept variable is passed as the SDK
        set it, by name, through ``env -i``, so no secret is written to disk or shown in a command line."""
        names = sorted({*self._names(parent_env), *(SDK_SETS if self.cli_env else ())})
        kept = " ".join(f'${{{n}+"{n}=${n}"}}' for n in names if _is_name(n))
        toolchains = " ".join(
            shlex.quote(f"{k}={v}")
            for k, v in self.environment(parent_env).items()
            if k in TOOLCHAIN_HOMES and k not in parent_env
        )
        body = (
            "#!/bin/sh\n"
            "# kodo-bot: runs the agent's CLI confined by bubblewrap (kodo_bot/confine.py)\n"
            f"exec env -i {kept} {toolchains} HOME={shlex.quote(str(self.home))} \\\n"
            f'  {self._setsid()}{self._prefix(parent_env)}{shlex.quote(str(target))} "$@"\n'
        )
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(body, encoding="utf-8")
        script.chmod(0o700)
        return script

    @staticmethod
    def _setsid() -> str:
        found = shutil.which("setsid")
        return f"{shlex.quote(found)} " if found else ""

    def _prefix(self, parent_env: Mapping[str, str]) -> str:
        if not self.bwrap:
            self.home.mkdir(parents=True, exist_ok=True)
            return ""
        bwrap = shutil.which("bwrap") or "bwrap"
        return f"{shlex.quote(bwrap)} {shlex.join(self.bwrap_args(parent_env))} \\\n  -- "

    def _names(self, env: Mapping[str, str]) -> set[str]:
        keep = {*BASE_ENV, *self.keep_env}
        prefixes = CLI_PREFIXES if self.cli_env else ()
        return {k for k in env if k in keep or (prefixes and k.startswith(prefixes))} | {
            k for k in TOOLCHAIN_HOMES if k in env
        }


def _hide(paths: Iterable[Path]) -> list[str]:
    args: list[str] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            args += ["--tmpfs", str(path)]
        elif path.exists():
            # an empty regular file: a bound /dev/null cannot be opened (bwrap mounts it nodev)
            args += ["--ro-bind", str(_EMPTY), str(path)]
    return args


_EMPTY = Path(__file__).parent / "data" / "empty"


def _is_name(name: str) -> bool:
    return name.replace("_", "a").isalnum() and not name[0].isdigit()


def not_dumpable() -> None:
    """Without a sandbox, at least keep same-user processes from reading this one's memory and environ."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def git_exposure(checkout: Path) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """What git in ``checkout`` needs to read, and the configs to hide: the repository it belongs to (a
    worktree's main repository), and the repositories whose objects it borrows (a ``--shared`` clone's
    alternates), whose ``config`` may hold a credential."""
    own = repository_dir(checkout)
    if own is None:
        return (), ()
    readable, hidden = [own], [own / "config"]
    alternates = own / "objects" / "info" / "alternates"
    if alternates.is_file():
        for line in alternates.read_text(encoding="utf-8", errors="replace").splitlines():
            objects = (own / "objects" / line.strip()).resolve() if line.strip() else None
            if objects is not None and objects.is_dir():
                readable.append(objects)
                hidden.append(objects.parent / "config")
    return tuple(readable), tuple(hidden)


def repository_dir(checkout: Path) -> Path | None:
    """The git directory of the repository a checkout belongs to (for a worktree, its main repository's,
    which holds the worktree's own git files, the objects and the config)."""
    dotgit = checkout / ".git"
    if dotgit.is_dir():
        return dotgit
    try:
        text = dotgit.read_text(encoding="utf-8")
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = (checkout / text.removeprefix("gitdir:").strip()).resolve()
    common = gitdir / "commondir"
    if common.is_file():
        gitdir = (gitdir / common.read_text(encoding="utf-8").strip()).resolve()
    return gitdir


class Leftovers:
    """Process sessions a run started, on disk, so a resumed run can end what a killed one left running.

    Inside bubblewrap nothing outlives kodo-bot (``--die-with-parent`` takes the whole PID namespace down).
    Without it, each agent CLI and each check starts its own session (``setsid``), and the session id is
    recorded here until the session ends normally; ``reap`` kills every process still in a recorded
    session, however deep (orphans keep their session id unless they leave it on purpose).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def add(self, sid: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / str(sid)).write_text(str(_started(sid) or ""), encoding="utf-8")

    def remove(self, sid: int) -> None:
        (self.folder / str(sid)).unlink(missing_ok=True)

    def reap(self) -> list[int]:
        """Kill every process in every recorded session; return their pids."""
        if not self.folder.is_dir():
            return []
        return [
            pid
            for record in list(self.folder.iterdir())
            if record.name.isdigit()
            for pid in self.reap_one(int(record.name))
        ]

    def reap_one(self, sid: int) -> list[int]:
        """Kill every process in session ``sid`` and forget it. Processes older than the record (a reused
        id) are left alone."""
        import psutil

        record = self.folder / str(sid)
        try:
            since = float(record.read_text(encoding="utf-8") or 0)
        except (OSError, ValueError):
            since = 0.0
        killed = []
        for proc in psutil.process_iter(["pid", "create_time"]):
            try:
                if proc.pid != os.getpid() and os.getsid(proc.pid) == sid and proc.info["create_time"] + 1 >= since:
                    proc.kill()
                    killed.append(proc.pid)
            except (psutil.Error, OSError):
                continue
        record.unlink(missing_ok=True)
        return killed


def _started(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None
