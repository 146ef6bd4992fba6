"""Does a verifier's checkout still hold exactly the commit under review? Asked before every tool it uses.

A check counts only if it ran on the commit as committed. So the engine looks at the checkout itself, not at
anything the verifier could rewrite: the commit's file list comes from the engine's repository
(``git ls-tree``), and files are compared by content (git's blob hash), with a stat cache keyed on the
inode's change time, which ``touch`` cannot set back. The checkout's own ``.git`` (its index, its HEAD, its
``assume-unchanged`` bits) is never consulted: a verifier that commits its patch, or hides it from
``git status``, still has an edited checkout.

Untracked files count as edits (a ``conftest.py`` that patches the code under test), except build output and
caches: the built-in list (``kodo_bot/data/build-output.gitignore``) and what the *commit's* ``.gitignore``
files ignore. An ignore file the verifier adds itself is an untracked file like any other.
"""

from __future__ import annotations

import hashlib
import os
import stat
from functools import cache
from importlib import resources
from pathlib import Path

import git
import pathspec

_SHOWN = 4


@cache
def build_output_patterns() -> tuple[str, ...]:
    """The built-in ignore list: bytecode, caches, virtualenvs, dependency folders."""
    text = resources.files("kodo_bot").joinpath("data/build-output.gitignore").read_text(encoding="utf-8")
    return tuple(ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#"))


@cache  # every git the engine runs asks for it
def build_output_file() -> Path:
    """The built-in list as a file git can read (``core.excludesFile``)."""
    return Path(str(resources.files("kodo_bot").joinpath("data/build-output.gitignore")))


class _Ignores:
    """The commit's ignore rules: the built-in list at the root, then each ``.gitignore`` of the commit."""

    def __init__(self, repo: git.Repo, sha: str, gitignores: list[str]) -> None:
        self._rules: list[tuple[str, pathspec.GitIgnoreSpec]] = [
            ("", pathspec.GitIgnoreSpec.from_lines(build_output_patterns()))
        ]
        for path in sorted(gitignores, key=lambda p: p.count("/")):
            text = repo.git.show(f"{sha}:{path}")
            self._rules.append((posix_dir(path), pathspec.GitIgnoreSpec.from_lines(text.splitlines())))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        verdict = False
        for base, spec in self._rules:
            if base and not rel.startswith(base + "/"):
                continue
            sub = rel[len(base) + 1 :] if base else rel
            found = spec.check_file(sub + "/" if is_dir else sub).include
            if found is not None:
                verdict = found
        return verdict


def posix_dir(path: str) -> str:
    return path.rpartition("/")[0]


class CheckoutWatch:
    """Call it to learn what differs between ``checkout`` and commit ``sha``: "" when nothing does."""

    def __init__(self, repo: git.Repo, sha: str, checkout: Path) -> None:
        self.sha, self.root = sha, Path(checkout)
        #: path -> (mode, blob id, size) as committed
        self._tree: dict[str, tuple[int, str, int]] = {}
        for entry in repo.git.ls_tree("-r", "-l", "-z", "--full-tree", sha).split("\0"):
            if not entry:
                continue
            meta, _, path = entry.partition("\t")
            mode, kind, blob, size = meta.split()
            if kind == "blob":
                self._tree[path] = (int(mode, 8), blob, int(size))
        self._ignores = _Ignores(repo, sha, [p for p in self._tree if p.rpartition("/")[2] == ".gitignore"])
        self._same: dict[str, tuple[tuple[int, ...], bool]] = {}
        #: other folders that must stay empty (but for caches): a verifier's private HOME, where a ``.pth``
        #: file, an ``.npmrc`` or a user-site package would change what the checks run
        self._empty: dict[str, Path] = {}
        self._builtin = pathspec.GitIgnoreSpec.from_lines(build_output_patterns())

    def also_empty(self, label: str, folder: Path) -> None:
        """Watch ``folder`` too: anything written there but caches counts as an edit, shown as ``label/...``."""
        self._empty[label] = Path(folder)

    def __call__(self) -> str:
        changed, extra = [], []
        seen: set[str] = set()
        for top, dirs, files in os.walk(self.root):
            rel_top = os.path.relpath(top, self.root)
            rel_top = "" if rel_top == "." else rel_top.replace(os.sep, "/")
            if not rel_top:
                dirs[:] = [d for d in dirs if d != ".git"]
                files = [f for f in files if f != ".git"]
            kept = []
            for d in sorted(dirs):
                rel = f"{rel_top}/{d}" if rel_top else d
                full = os.path.join(top, d)
                if os.path.islink(full):
                    files.append(d)  # a symlink to a directory is a file to git
                elif not self._ignores.ignored(rel, True):
                    kept.append(d)
            dirs[:] = kept
            for name in sorted(files):
                rel = f"{rel_top}/{name}" if rel_top else name
                if rel in self._tree:
                    seen.add(rel)
                    if not self._unchanged(rel):
                        changed.append(rel)
                elif not self._ignores.ignored(rel, False):
                    extra.append(rel)
        missing = sorted(set(self._tree) - seen)
        for label, folder in self._empty.items():
            extra += [f"{label}/{rel}" for rel in self._written(folder)]
        return _describe(changed, extra, missing)

    def _written(self, folder: Path) -> list[str]:
        found = []
        for top, dirs, files in os.walk(folder):
            rel_top = os.path.relpath(top, folder).replace(os.sep, "/")
            rel_top = "" if rel_top == "." else rel_top
            dirs[:] = [d for d in dirs if not self._builtin.match_file(f"{rel_top}/{d}/" if rel_top else f"{d}/")]
            found += [
                rel
                for name in sorted(files)
                if not self._builtin.match_file(rel := f"{rel_top}/{name}" if rel_top else name)
            ]
        return sorted(found)

    def _unchanged(self, rel: str) -> bool:
        mode, blob, size = self._tree[rel]
        full = self.root / rel
        try:
            st = os.lstat(full)
        except OSError:
            return False
        key = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_mode)
        cached = self._same.get(rel)
        if cached is not None and cached[0] == key:
            return cached[1]
        same = _same_file(full, st, mode, blob, size)
        self._same[rel] = (key, same)
        return same


def _same_file(full: Path, st: os.stat_result, mode: int, blob: str, size: int) -> bool:
    if stat.S_ISLNK(mode):
        return stat.S_ISLNK(st.st_mode) and _blob_id(os.readlink(full).encode()) == blob
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        return False
    if bool(st.st_mode & 0o100) != (mode == 0o100755):
        return False
    return _blob_id(full.read_bytes()) == blob


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _describe(changed: list[str], extra: list[str], missing: list[str]) -> str:
    parts = []
    for label, paths in (("changed", changed), ("added", extra), ("deleted", missing)):
        if paths:
            more = f" and {len(paths) - _SHOWN} more" if len(paths) > _SHOWN else ""
            parts.append(f"{label} {', '.join(paths[:_SHOWN])}{more}")
    return "; ".join(parts)
