"""Clone, fetch and push the target repository without the token ever touching disk, URLs or logs.

The token travels only in the environment of the one ``git`` process that needs it, as an
``http.extraHeader`` given through ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_n``/``GIT_CONFIG_VALUE_n`` (git >= 2.31).
So ``.git/config`` holds a plain ``origin`` URL, ``ps`` shows no secret in any command line, the agents (who
run in the clone with a scrubbed environment) find nothing to reuse, and an error message is redacted before
it is raised. Against the emulator the remote is a ``file://`` URL: no header is sent, the code path is the
same.

Agents write in worktrees of the clone, so the clone's config and hooks are theirs to plant. Every git
command here runs with ``_git_env.git_env`` (no hooks, no global or system config, no credential helper),
and the two that carry the token, fetch and push, do not run in the clone at all: they run in a bare
repository made for that one command in a fresh temporary directory, borrowing the clone's objects through
``objects/info/alternates``. Its config is the one ``git init`` just wrote, so no ``url.*.insteadOf``,
``http.proxy`` or ``http.<url>.sslVerify`` an agent left in the clone can redirect or read the header.

Deliberately not here: deciding what to push or when (the sink does), committing (the engine does), or
GitHub's REST API.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr

from kodo_bot._git_env import git_env
from kodo_bot.engine.workspace import BOT_EMAIL, BOT_NAME
from kodo_bot.errors import GitHubError
from kodo_bot.github._transport import GitHubRefused
from kodo_bot.github.tokens import FixedToken, TokenSource
from kodo_bot.redact import redact


class GitRemote:
    """The target repository's git remote (``clone_url`` from the REST API) and how to authenticate to it."""

    def __init__(
        self,
        url: str,
        token: str | SecretStr | TokenSource | None,
        *,
        base_env: Mapping[str, str] | None = None,
        timeout_s: float = 600,
    ) -> None:
        self.url = url
        #: None: no auth (a local remote); else asked for the token at each fetch and push (an App's renews)
        given = token.get_secret_value() if isinstance(token, SecretStr) else token
        self._tokens = given if isinstance(given, TokenSource) else FixedToken(given) if given else None
        self._base_env = dict(os.environ if base_env is None else base_env)
        self.timeout_s = timeout_s

    # ------------------------------------------------------------------ operations
    def clone_or_fetch(self, dest: Path, default_branch: str) -> Path:
        """A clone of the repository at ``dest`` on ``default_branch``, up to date with the remote.

        An existing clone (a run on this machine before) is fetched, not replaced: it may hold an interrupted
        run's state and worktree, which a takeover resumes from.
        """
        if (dest / ".git").is_dir():
            with self._one_shot(dest) as scratch:
                self._git(
                    ["fetch", "--quiet", self.url, "+refs/heads/*:refs/remotes/origin/*"], cwd=scratch, what="fetch"
                )
                self._git(
                    [
                        "fetch",
                        "--quiet",
                        "--prune",
                        "--no-tags",
                        str(scratch),
                        "+refs/remotes/origin/*:refs/remotes/origin/*",
                    ],
                    cwd=dest,
                    what="fetch",
                    auth=False,
                )
            self._git(["checkout", "--quiet", "--force", default_branch], cwd=dest, what="check out", auth=False)
            self._git(["reset", "--quiet", "--hard", f"origin/{default_branch}"], cwd=dest, what="update", auth=False)
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._git(
            ["clone", "--quiet", "--branch", default_branch, "--", self.url, str(dest)], cwd=dest.parent, what="clone"
        )
        return dest

    def track_branch(self, clone: Path, branch: str) -> bool:
        """Make ``branch`` a local branch when the remote has it (an earlier run's work). True if it exists.

        A local branch that is already there may be ahead of the remote (commits of an interrupted run that
        were never pushed): those are kept. When the remote is ahead of it instead (a person pushed to the
        branch since), it moves up to the remote's commit, so the run continues from their work and its
        push never has to overwrite it.
        """
        local = self._rev(clone, f"refs/heads/{branch}")
        if local is not None:
            remote = self._rev(clone, f"refs/remotes/origin/{branch}")
            if remote is not None and remote != local and self._is_ancestor(clone, local, remote):
                self._git(["update-ref", f"refs/heads/{branch}", remote, local], cwd=clone, what="catch up", auth=False)
            return True
        if self._rev(clone, f"refs/remotes/origin/{branch}") is None:
            return False
        self._git(["branch", "--quiet", branch, f"origin/{branch}"], cwd=clone, what="create the branch", auth=False)
        return True

    def _rev(self, clone: Path, ref: str) -> str | None:
        found = self._git(["rev-parse", "--verify", "--quiet", ref], cwd=clone, what="inspect", auth=False, check=False)
        return found.stdout.strip() if found.returncode == 0 else None

    def _is_ancestor(self, clone: Path, older: str, newer: str) -> bool:
        asked = ["merge-base", "--is-ancestor", older, newer]
        return self._git(asked, cwd=clone, what="inspect", auth=False, check=False).returncode == 0

    def remote_branches(self, clone: Path, prefix: str) -> list[str]:
        """Branches on the remote (as of the last fetch) whose names start with ``prefix``."""
        out = self._git(
            ["for-each-ref", "--format=%(refname:strip=3)", f"refs/remotes/origin/{prefix}*"],
            cwd=clone,
            what="list branches",
            auth=False,
        )
        return [line for line in out.stdout.splitlines() if line and line != "HEAD"]

    def push(self, clone: Path, branch: str) -> str:
        """Push ``branch`` to the remote; returns the pushed commit. Never forces: a rejected push (someone
        else pushed to the branch) is an error a person must look at, not something to overwrite."""
        sha = self._git(["rev-parse", f"refs/heads/{branch}"], cwd=clone, what="inspect", auth=False).stdout.strip()
        # To the URL we hold, not to whatever `origin` says, from a repository no agent has seen.
        with self._one_shot(clone) as scratch:
            self._git(
                ["push", "--quiet", "--porcelain", self.url, f"{sha}:refs/heads/{branch}"],
                cwd=scratch,
                what=f"push {branch}",
            )
        return sha

    def publish(self, clone: Path, branch: str, files: Mapping[str, Path], message: str) -> str:
        """Commit ``files`` (path in the repository -> file here) on top of the remote ``branch``, creating it,
        and push; returns the commit. For a branch of records only (``kodo/evidence``): nothing is checked
        out and the run's branch is not touched. Another run's push in between is fetched and built upon."""
        with self._one_shot(clone) as scratch, tempfile.TemporaryDirectory(prefix="kodo-files-") as tmp:
            tree = Path(tmp)
            for path, source in files.items():
                (tree / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, tree / path)
            for attempt in range(3):
                sha = self._commit_files(scratch, tree, branch, list(files), message)
                pushed = self._git(["push", "--quiet", "--porcelain", self.url, f"{sha}:refs/heads/{branch}"],
                                   cwd=scratch, what=f"push {branch}", check=attempt == 2)  # fmt: skip
                if pushed.returncode == 0:
                    return sha
        raise AssertionError("unreachable: the last attempt raises")

    def _commit_files(self, scratch: Path, tree: Path, branch: str, paths: list[str], message: str) -> str:
        """A commit of the remote ``branch``'s files plus ``paths`` from ``tree``, made in ``scratch``."""
        fetched = self._git(["fetch", "--quiet", self.url, f"+refs/heads/{branch}:refs/kodo/parent"],
                            cwd=scratch, what=f"fetch {branch}", check=False)  # fmt: skip
        parent = self._rev(scratch, "refs/kodo/parent") if fetched.returncode == 0 else None
        work = ["--work-tree", str(tree)]
        self._git(["read-tree", parent or "--empty"], cwd=scratch, what="prepare", auth=False)
        self._git([*work, "add", "--", *paths], cwd=scratch, what="prepare", auth=False)
        tree_sha = self._git(["write-tree"], cwd=scratch, what="prepare", auth=False).stdout.strip()
        parents = ["-p", parent] if parent else []
        made = self._git(["commit-tree", tree_sha, *parents, "-m", message], cwd=scratch, what="commit", auth=False)
        return made.stdout.strip()

    # ------------------------------------------------------------------ plumbing
    def env(self, *, auth: bool = True) -> dict[str, str]:
        """The environment for one git process: hardened (``git_env``), plus the auth header when asked."""
        header = []
        if auth and self._tokens is not None and self.url.startswith(("https://", "http://")):
            basic = _basic(self._tokens.current())
            header = [("http.extraHeader", f"AUTHORIZATION: basic {basic}")]
        env = git_env(self._base_env, config=header)
        env.update(
            {
                "GIT_AUTHOR_NAME": BOT_NAME,
                "GIT_AUTHOR_EMAIL": BOT_EMAIL,
                "GIT_COMMITTER_NAME": BOT_NAME,
                "GIT_COMMITTER_EMAIL": BOT_EMAIL,
            }
        )
        return env

    @contextmanager
    def _one_shot(self, clone: Path) -> Iterator[Path]:
        """A bare repository for one authenticated command, sharing the clone's objects, removed after."""
        with tempfile.TemporaryDirectory(prefix="kodo-git-") as tmp:
            scratch = Path(tmp)
            self._git(["init", "--quiet", "--bare", str(scratch)], cwd=scratch, what="prepare", auth=False)
            objects = (clone / ".git" / "objects").resolve()
            (scratch / "objects" / "info" / "alternates").write_text(f"{objects}\n", encoding="utf-8")
            yield scratch

    @property
    def secrets(self) -> tuple[str, ...]:
        if self._tokens is None:
            return ()
        tokens = self._tokens.secrets
        return (*tokens, *(_basic(t) for t in tokens))

    def _git(
        self, args: list[str], *, cwd: Path, what: str, auth: bool = True, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(
                ["git", *args],
                cwd=cwd,
                env=self.env(auth=auth),
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise GitHubError(
                f"git could not {what} within {self.timeout_s:.0f} s",
                hint="check the runner's network and the repository's size",
            ) from None
        except FileNotFoundError:
            raise GitHubError("git is not installed on this runner", hint="install git (2.31 or newer)") from None
        if check and proc.returncode != 0:
            detail = redact(f"{proc.stderr}\n{proc.stdout}".strip(), self.secrets)[-2000:]
            refused = _refusal(detail)
            if refused is not None:  # asking again cannot help
                raise GitHubRefused(f"GitHub refused to let git {what}: {_gist(detail)}", hint=refused)
            raise GitHubError(f"git could not {what}: {detail or f'exit {proc.returncode}'}", hint=_hint(detail))
        return proc


def _refusal(detail: str) -> str | None:
    """What to change, when git's answer is a refusal rather than trouble on the way."""
    low = detail.lower()
    if "403" in low or "permission" in low or "denied" in low or "401" in low:
        return "grant `contents: write` under `permissions:` in the workflow (or to the token)"
    if any(
        word in low
        for word in ("non-fast-forward", "[rejected]", "fetch first", "remote rejected", "updates were rejected")
    ):
        return (
            "someone else pushed to the run's branch, or a rule protects it; kodo-bot does not force-push "
            "over their work: look at the branch, then add the label again"
        )
    return None


def _gist(detail: str) -> str:
    """git's answer in one line: the rejected ref's reason (``--porcelain``), else its last errors."""
    lines = [line.strip() for line in detail.splitlines() if line.strip() and not line.startswith("hint:")]
    rejected = [line.split("\t")[-1] for line in lines if line.startswith("!")]
    errors = [line for line in lines if line.startswith(("error:", "fatal:", "remote:"))]
    return "; ".join(rejected or errors[-2:] or lines[-1:])[:500]


def _hint(detail: str) -> str | None:
    low = detail.lower()
    if "could not resolve host" in low or "unable to access" in low:
        return "check the runner's network and GITHUB_SERVER_URL"
    return None


def _basic(token: str) -> str:
    """The basic-auth value git sends for a token (what must be masked besides the token itself)."""
    return base64.b64encode(f"x-access-token:{token}".encode()).decode()
