"""The bare git repository behind each emulated repo, driven with the ``git`` command.

Branches, PR heads, commit lookups and file contents are read from real refs every time, so whatever
a client pushes with plain ``git push`` is what the REST API reports. Plumbing commands only: no
working tree, no global git configuration needed (identities are passed in the environment).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

#: Variables that would redirect git away from the repository we name explicitly.
_GIT_REDIRECTS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE")


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    date: str  # ISO 8601 with Z


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author: Person
    committer: Person
    message: str


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    type: str  # "blob", "tree" or "commit" (a submodule)
    sha: str
    size: int | None
    path: str


class GitFailed(RuntimeError):
    """A git command failed where the emulator expected it to work."""


class BareRepo:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: Path, default_branch: str) -> BareRepo:
        path.mkdir(parents=True, exist_ok=True)
        repo = cls(path)
        repo._git("init", "--quiet", "--bare", f"--initial-branch={default_branch}", ".", cwd=path)
        return repo

    # -- reading -----------------------------------------------------------------------------------

    def resolve(self, ref: str) -> str | None:
        """A commit SHA for a branch name, tag name, ``refs/...`` name or (abbreviated) SHA."""
        if not ref or ref.startswith("-") or ".." in ref:
            return None
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            out = self._git("rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}", check=False)
            if out:
                return out.strip()
        return None

    def branch_sha(self, branch: str) -> str | None:
        out = self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False)
        return out.strip() or None

    def refs(self, prefix: str = "refs/") -> list[tuple[str, str, str]]:
        """``(refname, object sha, object type)`` under ``prefix``, sorted by name."""
        out = self._git("for-each-ref", "--format=%(refname) %(objectname) %(objecttype)", prefix)
        return [tuple(line.split(" ")) for line in out.splitlines() if line]  # type: ignore[misc]

    def commit(self, sha: str) -> CommitInfo:
        fmt = "%H%n%T%n%P%n%an%n%ae%n%aI%n%cn%n%ce%n%cI%n%B"
        out = self._git("show", "-s", f"--format={fmt}", sha)
        lines = out.split("\n")
        return CommitInfo(
            sha=lines[0],
            tree=lines[1],
            parents=tuple(p for p in lines[2].split(" ") if p),
            author=Person(lines[3], lines[4], _utc(lines[5])),
            committer=Person(lines[6], lines[7], _utc(lines[8])),
            message="\n".join(lines[9:]).rstrip("\n"),
        )

    def entry(self, commit: str, path: str) -> TreeEntry | None:
        """The tree entry at ``path`` in ``commit`` (None if absent); ``path == ""`` is the root tree."""
        if path == "":
            tree = self._git("rev-parse", f"{commit}^{{tree}}").strip()
            return TreeEntry("040000", "tree", tree, None, "")
        entries = self._ls_tree(commit, path)
        return entries[0] if entries and entries[0].path == path else None

    def list_dir(self, commit: str, path: str) -> list[TreeEntry]:
        return self._ls_tree(commit, f"{path}/" if path else "")

    def read_blob(self, sha: str) -> bytes:
        return self._git_bytes("cat-file", "blob", sha)

    def count_commits(self, base: str, head: str) -> int:
        return int(self._git("rev-list", "--count", f"{base}..{head}").strip())

    def diff_stats(self, base: str, head: str) -> tuple[int, int, int]:
        """``(additions, deletions, changed_files)`` of ``base...head``, as a PR shows them."""
        out = self._git("diff", "--numstat", f"{base}...{head}", check=False)
        adds = dels = files = 0
        for line in out.splitlines():
            added, deleted, _ = line.split("\t", 2)
            files += 1
            adds += int(added) if added.isdigit() else 0
            dels += int(deleted) if deleted.isdigit() else 0
        return adds, dels, files

    def file_diff(self, base: str, head: str, path: str) -> str:
        """The unified diff of one file over ``base...head`` (what a PR's Files tab shows for it)."""
        return self._git("diff", "--no-color", "--no-ext-diff", f"{base}...{head}", "--", path, check=False)

    def merges_cleanly(self, base: str, head: str) -> bool:
        """True when ``head`` merges into ``base`` without conflicts (``git merge-tree``, git >= 2.38)."""
        proc = self._run(["merge-tree", "--write-tree", base, head])
        if proc.returncode in (0, 1):
            return proc.returncode == 0
        return True  # an older git cannot tell; GitHub would say "unknown", a clean answer is kinder

    # -- writing -----------------------------------------------------------------------------------

    def update_ref(self, ref: str, sha: str) -> None:
        self._git("update-ref", ref, sha)

    def delete_ref(self, ref: str) -> None:
        self._git("update-ref", "-d", ref)

    def is_ancestor(self, older: str, newer: str) -> bool:
        return self._run(["merge-base", "--is-ancestor", older, newer]).returncode == 0

    def commit_files(self, branch: str, files: Mapping[str, str | bytes], message: str, author: tuple[str, str]) -> str:
        """Commit ``files`` on top of ``branch`` (creating it if needed) without a working tree."""
        parent = self.branch_sha(branch)
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if parent:
                self._git("read-tree", parent, env=env)
            for path, content in sorted(files.items()):
                data = content.encode() if isinstance(content, str) else content
                blob = self._git("hash-object", "-w", "--stdin", input=data, env=env).strip()
                self._git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = self._git("write-tree", env=env).strip()
        name, email = author
        ident = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        sha = self._git(*args, env=ident).strip()
        self.update_ref(f"refs/heads/{branch}", sha)
        return sha

    def checkout(self, sha: str, into: Path) -> None:
        """A working copy of ``sha`` in ``into`` (a fresh clone sharing this repository's objects)."""
        proc = subprocess.run(
            ["git", "clone", "--quiet", "--shared", "--no-checkout", str(self.path), str(into)],
            capture_output=True,
            check=False,
            env={k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS},
        )
        if proc.returncode != 0:
            raise GitFailed(proc.stderr.decode(errors="replace").strip())
        proc = subprocess.run(
            ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", sha],
            cwd=into,
            capture_output=True,
            check=False,
            env={k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS},
        )
        if proc.returncode != 0:
            raise GitFailed(proc.stderr.decode(errors="replace").strip())

    # -- plumbing ----------------------------------------------------------------------------------

    def _ls_tree(self, commit: str, spec: str) -> list[TreeEntry]:
        args = ["ls-tree", "-l", "-z", commit] + (["--", spec] if spec else [])
        out = self._git(*args, check=False)
        entries = []
        for record in out.split("\0"):
            if not record:
                continue
            meta, path = record.split("\t", 1)
            mode, kind, sha, size = meta.split()
            entries.append(TreeEntry(mode, kind, sha, int(size) if size.isdigit() else None, path))
        return entries

    def _run(
        self, args: list[str], *, input: bytes | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = {k: v for k, v in os.environ.items() if k not in _GIT_REDIRECTS}
        full_env.update(env or {})
        full_env.setdefault("GIT_CONFIG_NOSYSTEM", "1")
        return subprocess.run(
            ["git", f"--git-dir={self.path}", *args],
            input=input,
            capture_output=True,
            env=full_env,
            check=False,
        )

    def _git_bytes(
        self, *args: str, check: bool = True, input: bytes | None = None, env: dict[str, str] | None = None
    ) -> bytes:
        proc = self._run(list(args), input=input, env=env)
        if check and proc.returncode != 0:
            raise GitFailed(f"git {' '.join(args)} failed: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout if proc.returncode == 0 else b""

    def _git(
        self,
        *args: str,
        check: bool = True,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> str:
        if cwd is not None:  # only ``init`` runs before the directory is a repository
            proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
            if proc.returncode != 0:
                raise GitFailed(proc.stderr.decode(errors="replace").strip())
            return proc.stdout.decode()
        return self._git_bytes(*args, check=check, input=input, env=env).decode(errors="replace")


def _utc(stamp: str) -> str:
    """git's strict ISO date (``2024-01-02T03:04:05+01:00``) as GitHub's UTC ``...Z`` form."""
    return datetime.fromisoformat(stamp).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
