"""Git for a run: the project checks, the run's own worktree and branch, cycle commits, clean checkouts.

Agents never work in the user's checkout: a run gets a worktree on its own branch, so the user can keep
working while agents edit. Verifiers and check commands get throw-away detached worktrees of one commit, so
only committed work can convince them. Everything goes through GitPython (real git underneath).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import git

from kodo_bot._git_env import harden
from kodo_bot.engine.checkout_watch import build_output_file
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
        changed = [*(d.a_path for d in repo.index.diff(None)), *repo.untracked_files][:5]
        raise UserError(
            f"{path} has uncommitted changes ({', '.join(changed)}{', ...' if len(changed) == 5 else ''})",
            hint="commit or stash them, or pass --allow-dirty (the run starts from HEAD and does not see them).",
        )
    return repo


def exclude_from_git(repo: git.Repo, state_dir: Path) -> None:
    """Keep kodo-bot's own files out of the project's commits without editing the user's .gitignore."""
    try:
        rel = state_dir.resolve().relative_to(Path(repo.working_tree_dir).resolve())
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


class RunWorkspace:
    """The run's worktree on its branch."""

    def __init__(self, project: git.Repo, path: Path, branch: str) -> None:
        self.project = project
        self.path = path
        self.branch = branch

    @classmethod
    def create_or_reuse(cls, project: git.Repo, path: Path, branch: str, *, base: str) -> RunWorkspace:
        """Add the worktree (and branch, from ``base``) or reuse both after an interruption."""
        if path.exists() and (path / ".git").exists():
            return cls(project, path, branch)
        project.git.worktree("prune")
        path.parent.mkdir(parents=True, exist_ok=True)
        if branch in [h.name for h in project.heads]:
            project.git.worktree("add", str(path), branch)
        else:
            project.git.worktree("add", "-b", branch, str(path), base)
        return cls(project, path, branch)

    @property
    def repo(self) -> git.Repo:
        # The built-in ignore list applies to everything git does here: the commit, and what counts as a change.
        return harden(git.Repo(self.path), config=[("core.excludesFile", str(build_output_file()))])

    def head(self) -> str:
        return self.repo.head.commit.hexsha

    def has_changes(self) -> bool:
        return self.repo.is_dirty(untracked_files=True)

    def commit(self, summary: str, *, run_id: str, cycle: int) -> Commit:
        """Commit everything in the worktree; an empty cycle still gets its commit so the branch tells
        the whole story (and a resumed run on another machine can count cycles from it)."""
        repo = self.repo
        before = repo.head.commit.hexsha
        left_out = build_output_left_out(repo)
        repo.git.add("-A")
        message = f"{commit_message(summary)}\n\nKodo-Run: {run_id}\nKodo-Cycle: {cycle}\n"
        repo.git.commit("--allow-empty", "--no-verify", "-m", message, env=_bot_identity())
        after = repo.head.commit.hexsha
        files = repo.git.diff("--name-only", "--no-renames", before, after).splitlines()
        return Commit(sha=after, files_changed=files, build_output=left_out)

    def files_changed_since(self, base: str) -> list[str]:
        return self.repo.git.diff("--name-only", base, "HEAD").splitlines()


def build_output_left_out(repo: git.Repo) -> list[str]:
    """Untracked paths that only the built-in ignore list keeps out of a commit (the project's own ignore
    rules would not): ``__pycache__/``, ``.venv/`` and the like, a directory once rather than file by file."""

    def ignored(excludes: str) -> set[str]:
        out = repo.git.execute(["git", "-c", f"core.excludesFile={excludes}", "status", "--porcelain", "-z",
                                "--ignored=traditional", "--untracked-files=normal"])
        return {entry[3:] for entry in out.split("\0") if entry.startswith("!! ")}

    return sorted(ignored(str(build_output_file())) - ignored("/dev/null"))


class CleanCheckout:
    """A detached worktree of one commit, removed (with anything written into it) on exit."""

    def __init__(self, project: git.Repo, sha: str, path: Path) -> None:
        self.project, self.sha, self.path = project, sha, path

    def __enter__(self) -> Path:
        if self.path.exists():
            self._remove()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.project.git.worktree("add", "--detach", "--force", str(self.path), self.sha)
        return self.path

    def __exit__(self, *exc: object) -> None:
        self._remove()

    def _remove(self) -> None:
        try:
            self.project.git.worktree("remove", "--force", "--force", str(self.path))
        except git.GitCommandError:
            shutil.rmtree(self.path, ignore_errors=True)
            self.project.git.worktree("prune")


def changed_tracked_files(checkout: Path) -> list[str]:
    """Tracked files that differ from the checkout's commit (new untracked files, caches and the like, are
    not the commit's content and do not count)."""
    return harden(git.Repo(checkout)).git.diff("--name-only", "HEAD").splitlines()


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
