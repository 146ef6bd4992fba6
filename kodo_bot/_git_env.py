"""The environment every git command kodo-bot runs itself gets: no hooks, no inherited config, no helpers.

Agents can write files in their checkout, and a worktree shares its repository's config. Without this, a
hook or a ``core.fsmonitor`` an agent planted would run inside kodo-bot's own commit or push, with whatever
that process holds (the push token). Settings given through ``GIT_CONFIG_COUNT`` outrank every config file,
so the ones below hold whatever the repository's config says. The user's global and system config are not
read at all: a credential helper or an ``includeIf`` there is not kodo-bot's to use.

Deliberately not handled here: clean/smudge filters an agent could declare in the repository's own config
(the engine's git runs in a repository agents can reach until runs get their own clone).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import git

#: variables that would make git read another repository or config than the one we name
GIT_REDIRECTS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_NAMESPACE",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_EXEC_PATH",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_EXTERNAL_DIFF",
    "GIT_PAGER",
    "GIT_EDITOR",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CEILING_DIRECTORIES",
)


def _no_hooks_dir() -> str:
    # An empty directory nobody else writes to: git finds no hook in it. Made once per process.
    global _NO_HOOKS
    if _NO_HOOKS is None or not Path(_NO_HOOKS).is_dir():
        _NO_HOOKS = tempfile.mkdtemp(prefix="kodo-no-hooks-")
    return _NO_HOOKS


_NO_HOOKS: str | None = None


def hardened_config() -> list[tuple[str, str]]:
    """Config that outranks any file an agent could have written."""
    return [
        ("core.hooksPath", _no_hooks_dir()),
        ("core.fsmonitor", "false"),
        ("core.pager", "cat"),
        ("core.askPass", ""),
        ("credential.helper", ""),
        ("protocol.ext.allow", "never"),
        ("diff.external", ""),
        ("commit.gpgSign", "false"),
        ("tag.gpgSign", "false"),
        ("gc.auto", "0"),
    ]


def git_env(base: Mapping[str, str], *, config: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """``base`` without anything that redirects git, plus the hardened config and ``config`` after it."""
    env = {k: v for k, v in base.items() if k not in GIT_REDIRECTS and not k.startswith("GIT_CONFIG_")}
    pairs = [*hardened_config(), *config]
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_COUNT": str(len(pairs)),
        }
    )
    for n, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{n}"] = key
        env[f"GIT_CONFIG_VALUE_{n}"] = value
    return env


def harden(repo: git.Repo, *, config: Iterable[tuple[str, str]] = ()) -> git.Repo:
    """``repo`` (a GitPython ``Repo``) with every later git command it runs given the hardened config."""
    overrides = git_env({}, config=config)
    repo.git.update_environment(**overrides)
    return repo
