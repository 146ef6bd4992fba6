"""Line counts of a run's commits, read from the project's git when the project is at hand.

The event log names the files each cycle changed but not how many lines; ``git show --numstat`` does. This
is the viewer's only reading outside the log, and it is optional: no project, no git, or a commit git does
not know (the log came from another machine) leaves that commit with the log's file list alone.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kodo_bot._git_env import git_env


def diffstat(project: Path, shas: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{sha: {"files": [[path, added, deleted], ...]}}`` for each commit git knows (binary: None, None)."""
    if not (project / ".git").exists():
        return {}
    found: dict[str, dict[str, Any]] = {}
    env = git_env(os.environ)
    for sha in shas:
        try:
            out = subprocess.run(
                ["git", "-C", str(project), "show", "--numstat", "--format=", "--no-renames", sha, "--"],
                capture_output=True,
                text=True,
                env=env,
                timeout=30,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        files = []
        for line in out.splitlines():
            added, deleted, path = (line.split("\t", 2) + ["", ""])[:3]
            if path:
                files.append(
                    [path, int(added) if added.isdigit() else None, int(deleted) if deleted.isdigit() else None]
                )
        found[sha] = {"files": files}
    return found
