"""Git for a run: the project checks, the run's own worktree and branch, cycle commits, clean checkouts.

Agents never work in the user's checkout: a run gets a worktree on its own branch, so the user can keep
working while agents edit. Verifiers and check commands get throw-away detached worktrees of one commit, so
only committed work can convince them. Everything goes through GitPython (real git underneath).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from kodo_bot._git_env import git_env, harden
from kodo_bot.engine.checkout_watch import build_output_file
from kodo_bot.engine.secret_scan import MAX_FILE_BYTES, Withheld, scan
from kodo_bot.errors import UserError

BOT_NAME = "kodo-bot"
BOT_EMAIL = "kodo-bot@users.noreply.github.com"


def open_project(path: Path, *, allow_dirty: bool = False) -> git.Repo:
    """The user's repository, refusing what would put their work at risk."""
    if not path.is_dir():
        raise UserError(f"project directory {path} does not exist")
    try:
        repo = git.Repo(path, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise UserError(
            f"{path} is not a git repository",
            hint="kodo-bot works on a branch of a git project: run `git init` and commit first.",
        ) from None
    harden(repo)
    if repo.bare:
        raise UserError(f"{path} is a bare repository; point --project at a checkout")
    if not repo.head.is_valid():
        raise UserError(f"{path} has no commits yet", hint="commit something first; kodo-bot branches from HEAD")
    if not allow_dirty and repo.is_dirty(untracked_files=True):
        changed = [*(str(d.a_path) for d in repo.index.diff(None)), *repo.untracked_files][:5]
        raise UserError(
            f"{path} has uncommitted changes ({', '.join(changed)}{', ...' if len(changed) == 5 else ''})",
            hint="commit or stash them, or pass --allow-dirty (the run starts from HEAD and does not see them).",
        )
    return repo


def exclude_from_git(repo: git.Repo, state_dir: Path) -> None:
    """Keep kodo-bot's own files out of the project's commits without editing the user's .gitignore."""
    try:
        rel = state_dir.resolve().relative_to(Path(str(repo.working_tree_dir)).resolve())
    except ValueError:
        return  # outside the project: nothing to exclude
    info = Path(repo.git_dir) / "info" / "exclude"
    info.parent.mkdir(parents=True, exist_ok=True)
    line = f"/{rel.as_posix()}/"
    existing = info.read_text(encoding="utf-8") if info.exists() else ""
    if line not in existing.splitlines():
        info.write_text(existing + ("" if existing.endswith("\n") or not existing else "\n") + line + "\n")


@dataclass(frozen=True)
class Commit:
    sha: str
    files_changed: list[str]
    #: build output and caches in the worktree that the commit left out (the built-in ignore list)
    build_output: list[str] = field(default_factory=list)
    #: files kept out of the commit because they hold a secret or are too big (they stay in the worktree)
    withheld: list[Withheld] = field(default_factory=list)


class RunWorkspace:
    """The run's worktree on its branch, and the engine's hold on that branch.

    Agents work in the worktree, but the engine commits without trusting its ``.git``: it stages the files
    into an index of its own, writes the commit with ``commit-tree`` and moves ``refs/heads/<branch>`` itself,
    with hooks and inherited config off. Before each commit it puts back whatever an agent did to the
    branch (``git reset``, ``git commit``, ``git checkout -b``, ``rm -rf .git``), keeping the agent's files
    as the cycle's content, and says what it undid in ``interference`` (the run makes a finding of it).
    After each finished agent call, ``snapshot`` saves the files to a hidden ref, so a worktree lost in a
    crash comes back on resume instead of the cycle's work silently vanishing.
    """

    def __init__(
        self,
        project: git.Repo,
        path: Path,
        branch: str,
        *,
        secrets: tuple[str, ...] = (),
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.project = project
        #: values no commit may hold (the credentials kodo-bot was given), and the size limit per file
        self.secrets, self.max_file_bytes = secrets, max_file_bytes
        self.path = Path(path)
        self.branch = branch
        self._git_dir = Path(project.git_dir).resolve()
        #: the checkout's own repository: agents' to use, never trusted by the engine
        self._own_git = self.path / ".git"
        slug = hashlib.sha1(branch.encode(), usedforsecurity=False).hexdigest()[:16]
        self._index = self._git_dir / "kodo" / f"{slug}.index"
        self._snapshot_ref = f"refs/kodo/snapshots/{slug}"
        #: the branch head the engine last wrote or found: what the branch must point at
        self.expected = self._rev(f"refs/heads/{branch}")
        #: what the engine undid since the last commit (agents moving the branch, switching branches ...)
        self.interference: list[str] = []
        #: files the last staging kept out of the commit (secrets, huge files)
        self.withheld: list[Withheld] = []

    @classmethod
    def create_or_reuse(cls, project: git.Repo, path: Path, branch: str, *, base: str, **options: Any) -> RunWorkspace:
        """Make the run's checkout (a clone sharing the project's objects) and its branch (from ``base``), or
        reuse both after an interruption. A checkout that is gone comes back with the files of the last
        snapshot, uncommitted, as they were. ``options`` go to the constructor (``secrets``, ``max_file_bytes``)."""
        if branch not in [h.name for h in project.heads]:
            project.git.branch(branch, base)
        workspace = cls(project, path, branch, **options)
        if path.exists():
            workspace.repair()
            return workspace
        path.mkdir(parents=True)
        workspace._clone()
        workspace._git("checkout", "-q", "-f", branch, git_dir=workspace._own_git, index=workspace._own_git / "index")
        workspace._restore_snapshot()
        return workspace

    @property
    def repo(self) -> git.Repo:
        """The worktree as git sees it, after putting back anything an agent did to its git."""
        self.repair()
        # The built-in ignore list applies to everything git does here: the commit, and what counts as a change.
        return harden(git.Repo(self.path), config=[("core.excludesFile", str(build_output_file()))])

    def head(self) -> str:
        return self._rev(f"refs/heads/{self.branch}") or self.expected

    def has_changes(self) -> bool:
        self.repair()
        return self._stage()[0] != self._git("rev-parse", f"{self.expected}^{{tree}}").strip()

    def commit(self, summary: str, *, run_id: str, cycle: int, on_sha: Callable[[str], None] | None = None) -> Commit:
        """Commit everything in the worktree; an empty cycle still gets its commit so the branch tells
        the whole story (and a resumed run on another machine can count cycles from it). ``on_sha`` is told
        the commit as soon as the branch holds it, while the checkout's own git is brought up to it."""
        self.repair()
        parent = self.expected
        tree, withheld = self._stage()
        message = f"{commit_message(summary)}\n\nKodo-Run: {run_id}\nKodo-Cycle: {cycle}\n"
        # The commit is a chain (each git needs the last one's output) and verification waits for it. What
        # the built-in list kept out (read from the worktree and the index just staged) and the files the
        # commit changed are asked beside it, in processes of their own; neither writes what the chain uses.
        with ThreadPoolExecutor(max_workers=2) as aside:
            left_out = aside.submit(build_output_left_out, self._git)
            sha = self._git("commit-tree", tree, "-p", parent, "-m", message, env=_bot_identity()).strip()
            files = aside.submit(self._git, "diff", "--name-only", "--no-renames", parent, sha)
            self._git("update-ref", f"refs/heads/{self.branch}", sha, parent)
            self.expected = sha
            if on_sha is not None:
                on_sha(sha)
            self._sync_checkout(sha)
            return Commit(
                sha=sha, files_changed=files.result().splitlines(), build_output=left_out.result(), withheld=withheld
            )

    def head_message(self) -> str:
        """The message of the commit the run branch holds (the one the engine last wrote or found)."""
        return self._git("log", "-1", "--format=%B", self.expected)

    def files_changed_since(self, base: str) -> list[str]:
        return self._git("diff", "--name-only", base, f"refs/heads/{self.branch}").splitlines()

    def snapshot(self) -> str | None:
        """Save the worktree's files (build output aside) under a hidden ref, parented on the branch head."""
        if not self.path.is_dir():
            return None
        scratch = self._index.with_suffix(f".{uuid.uuid4().hex[:8]}.snapshot")  # calls may end together
        try:
            if self._index.exists():
                shutil.copyfile(self._index, scratch)
            tree, _ = self._stage(index=scratch)
            sha = self._git(
                "commit-tree", tree, "-p", self.expected, "-m", "kodo-bot: worktree snapshot", env=_bot_identity()
            ).strip()
            self._git("update-ref", self._snapshot_ref, sha)
        finally:
            scratch.unlink(missing_ok=True)
        return sha

    # --- keeping the branch the engine's -----------------------------------------------------------

    def repair(self) -> None:
        """Put back the checkout's repository, its HEAD and branch, and the project's run branch, as the engine
        left them; the checkout's files stay as the agents left them."""
        own = self._own_git
        if not (own.is_dir() and (own / "objects").is_dir() and (own / "HEAD").is_file()):
            if own.is_dir() and not own.is_symlink():
                shutil.rmtree(own)
            elif own.exists() or own.is_symlink():
                own.unlink()
            self._clone()
            self.interference.append("an agent removed or replaced the checkout's .git; kodo-bot restored it")
        head = (own / "HEAD").read_text(encoding="utf-8", errors="replace").strip()
        if head != f"ref: refs/heads/{self.branch}":
            self.interference.append(
                f"an agent switched the checkout away from {self.branch} ({head}); "
                "kodo-bot switched it back and kept the files"
            )
        with ThreadPoolExecutor(max_workers=1) as aside:  # two reads, of two repositories: at once
            project_head = aside.submit(self._rev, f"refs/heads/{self.branch}")
            moved = self._rev(f"refs/heads/{self.branch}", git_dir=own)
        if moved != self.expected and head == f"ref: refs/heads/{self.branch}":
            self.interference.append(
                f"an agent moved the run branch from {self.expected[:12]} to "
                f"{(moved or 'nothing')[:12]} (reset, rebase or commit); kodo-bot restored "
                "it and kept the files as this cycle's work"
            )
        if project_head.result() != self.expected:
            # the project's own branch: no agent can reach it from its checkout, but a person or a stray
            # process can; the engine's record wins
            self._git("update-ref", f"refs/heads/{self.branch}", self.expected)
            self.interference.append(
                f"the run branch was moved outside kodo-bot; kodo-bot restored it to {self.expected[:12]}"
            )
        if head != f"ref: refs/heads/{self.branch}" or moved != self.expected:
            self._sync_checkout(self.expected)

    def take_interference(self) -> list[str]:
        taken, self.interference = self.interference, []
        return taken

    def _clone(self) -> None:
        """The checkout's repository: a clone sharing the project's objects (nothing copied), with only the
        run branch and no remote, so nothing in it leads back to the user's repository or its config."""
        scratch = self.path.parent / f".{self.path.name}.clone-{uuid.uuid4().hex[:8]}"
        try:
            _plain_git("clone", "-q", "--shared", "--no-checkout", str(self._git_dir), str(scratch))
            shutil.move(str(scratch / ".git"), str(self._own_git))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self._checkout_git("remote", "remove", "origin")
        self._sync_checkout(self.expected)

    def _stage(self, index: Path | None = None) -> tuple[str, list[Withheld]]:
        """Stage the whole worktree into the engine's index (never the worktree's own), except files that
        hold a secret or are too big, which never reach the repository's objects; return the tree and those."""
        index = index or self._index
        if not index.exists():
            index.parent.mkdir(parents=True, exist_ok=True)
            self._git("read-tree", self.expected, index=index)
        changed = self._git("ls-files", "-z", "--modified", "--others", "--exclude-standard", index=index)
        withheld = scan(
            self.path,
            sorted(set(filter(None, changed.split("\0")))),
            secrets=self.secrets,
            max_bytes=self.max_file_bytes,
        )
        keep_out = [f":(exclude,literal){w.path}" for w in withheld]
        if index == self._index:
            self.withheld = withheld
        self._git("add", "-A", "--", ".", *keep_out, index=index)
        return self._git("write-tree", index=index).strip(), withheld

    def _sync_checkout(self, sha: str) -> None:
        """Point the checkout's own branch, HEAD and index at ``sha`` (the engine's commit, visible to it
        through the shared objects), so ``git status`` there shows no phantom changes."""
        branch = f"refs/heads/{self.branch}"
        # The index and the refs are different files, written at once; HEAD is rewritten only when it names
        # another branch (after a commit's repair it names this one).
        with ThreadPoolExecutor(max_workers=1) as aside:
            index = aside.submit(self._checkout_git, "read-tree", sha)
            self._checkout_git("update-ref", branch, sha)
            if (self._own_git / "HEAD").read_text(encoding="utf-8", errors="replace").strip() != f"ref: {branch}":
                self._checkout_git("symbolic-ref", "HEAD", branch)
            index.result()
        self._checkout_git("update-index", "-q", "--refresh", check=False)

    def _restore_snapshot(self) -> None:
        snap = self._rev(self._snapshot_ref)
        if not snap or self._rev(f"{snap}^") != self.expected:
            return  # none, or from before the last commit: the branch already holds it
        self._checkout_git("read-tree", "-u", "--reset", snap)
        self._checkout_git("read-tree", self.expected)
        self.interference.append("the worktree was lost; kodo-bot restored the files of the last finished agent call")

    def _rev(self, ref: str, *, git_dir: Path | None = None) -> str:
        out = self._git("rev-parse", "--verify", "-q", ref, git_dir=git_dir, check=False)
        return out.strip()

    def _checkout_git(self, *args: str, check: bool = True) -> str:
        """git on the checkout's own repository and index (the agents'), not the engine's."""
        return self._git(*args, git_dir=self._own_git, index=self._own_git / "index", check=check)

    def _git(
        self,
        *args: str,
        index: Path | None = None,
        git_dir: Path | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
    ) -> str:
        run_env = git_env(os.environ, config=[("core.excludesFile", str(build_output_file()))])
        run_env.update(GIT_DIR=str(git_dir or self._git_dir), GIT_INDEX_FILE=str(index or self._index), **(env or {}))
        if self.path.is_dir():  # git refuses a work tree whose folder is missing, even for ref updates
            run_env["GIT_WORK_TREE"] = str(self.path)
        done = subprocess.run(
            ["git", *args],
            cwd=self.path if self.path.is_dir() else self._git_dir,
            env=run_env,
            capture_output=True,
            text=True,
        )
        if check and done.returncode != 0:
            raise git.GitCommandError(["git", *args], done.returncode, done.stderr, done.stdout)
        return done.stdout


def build_output_left_out(run_git: Callable[..., str]) -> list[str]:
    """Untracked paths that only the built-in ignore list keeps out of a commit (the project's own ignore
    rules would not): ``__pycache__/``, ``.venv/`` and the like, a directory once rather than file by file.
    ``run_git(*args)`` runs git in the right repository, work tree and index and returns its output."""

    def ignored(excludes: str) -> set[str]:
        out = run_git(
            "-c",
            f"core.excludesFile={excludes}",
            "status",
            "--porcelain",
            "-z",
            "--ignored=traditional",
            "--untracked-files=normal",
        )
        return {entry[3:] for entry in out.split("\0") if entry.startswith("!! ")}

    return sorted(ignored(str(build_output_file())) - ignored("/dev/null"))


class CleanCheckout:
    """A checkout of one commit in a clone sharing the project's objects, removed (with anything written into
    it) on exit. A clone, not a worktree, so nothing in it leads back to the user's repository.

    It can also be made in two steps: ``prepare`` clones with nothing checked out (an empty folder but for
    ``.git``, where a verifier's CLI can start before the commit exists), ``check_out`` then puts the commit
    there; its objects, written to the project later, are found through the clone's alternates."""

    def __init__(self, project: git.Repo, sha: str | None, path: Path) -> None:
        self.project, self.sha, self.path = project, sha, path
        self._held: str | None = None  # the commit checked out, once it is

    def __enter__(self) -> Path:
        assert self.sha is not None
        self.prepare()
        return self.check_out(self.sha)

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def prepare(self) -> Path:
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _plain_git(
            "clone", "-q", "--shared", "--no-checkout", str(Path(self.project.git_dir).resolve()), str(self.path)
        )
        _plain_git("-C", str(self.path), "remote", "remove", "origin")
        self._held = None
        return self.path

    def check_out(self, sha: str) -> Path:
        """Put commit ``sha`` in the checkout (once: it may have been made ready with it ahead)."""
        self.sha = sha
        if self._held != sha:
            _plain_git("-C", str(self.path), "checkout", "-q", "--detach", sha)
            self._held = sha
        return self.path

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _plain_git(*args: str) -> str:
    """git with the hardened environment and no repository set by the environment (``-C`` picks one)."""
    done = subprocess.run(["git", *args], env=git_env(os.environ), capture_output=True, text=True)
    if done.returncode != 0:
        raise git.GitCommandError(["git", *args], done.returncode, done.stderr, done.stdout)
    return done.stdout


def changed_tracked_files(checkout: Path) -> list[str]:
    """Tracked files that differ from the checkout's commit (new untracked files, caches and the like, are
    not the commit's content and do not count)."""
    return str(harden(git.Repo(checkout)).git.diff("--name-only", "HEAD")).splitlines()


def commit_message(summary: str) -> str:
    """A subject line (at most 72 characters) and, when the summary says more, a body with the rest."""
    text = summary.strip() or "kodo-bot cycle"
    first, _, rest = text.partition("\n")
    first, rest = first.strip(), rest.strip()
    if len(first) > 72:
        return f"{first[:69]}...\n\n{text}"  # the body keeps the whole, uncut summary
    return f"{first}\n\n{rest}" if rest else first


_CYCLE_TRAILER = re.compile(r"^Kodo-Cycle:\s*(\d+)\s*$", re.MULTILINE)
_TRAILER_LINE = re.compile(r"^Kodo-(?:Run|Cycle):.*$", re.MULTILINE)


def prior_cycles(repo: git.Repo, branch: str, base_sha: str) -> tuple[int, list[str]]:
    """What an existing branch says about earlier cycles: the highest ``Kodo-Cycle`` and each cycle's
    summary read back from its commit message (see ``workspace.commit_message``), oldest first."""
    cycles, summaries = 0, []
    for commit in reversed(list(repo.iter_commits(f"{base_sha}..{branch}"))):
        message = str(commit.message)
        found = _CYCLE_TRAILER.findall(message)
        if not found:
            continue  # a person's commit on the branch: not a cycle
        cycles = max(cycles, *map(int, found))
        subject, _, body = _TRAILER_LINE.sub("", message).strip().partition("\n\n")
        body = body.strip()
        if subject.endswith("...") and body.startswith(subject[:-3]):
            summaries.append(body)  # a long first line was cut for the subject; the body has it whole
        else:
            summaries.append(f"{subject}\n{body}" if body else subject)
    return cycles, summaries


def _bot_identity() -> dict[str, str]:
    # GitPython merges this over the inherited environment.
    return {
        "GIT_AUTHOR_NAME": BOT_NAME,
        "GIT_AUTHOR_EMAIL": BOT_EMAIL,
        "GIT_COMMITTER_NAME": BOT_NAME,
        "GIT_COMMITTER_EMAIL": BOT_EMAIL,
    }
