"""The CLI's process tree: finding it and ending whatever a timed-out or crashed CLI left running.

Processes are ended by pid through psutil handles taken while they were known to be ours, never by name.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import psutil
from claude_agent_sdk import ClaudeSDKClient


def cli_pid(client: ClaudeSDKClient) -> int | None:
    # The SDK offers no accessor for the CLI process; its subprocess transport keeps anyio's Process as
    # ``_process``. Should that change, pid is None and cleanup relies on the SDK's own close() alone.
    process = getattr(getattr(client, "_transport", None), "_process", None)
    pid = getattr(process, "pid", None)
    return pid if isinstance(pid, int) else None


def process_tree(pid: int | None) -> list[Any]:
    """The CLI process and everything it started, as psutil handles taken now (before anything exits)."""
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def reap(processes: list[Any], grace_s: float = 3.0) -> None:
    """Terminate, then kill, whichever of these processes still run (kill at once when ``grace_s`` is 0), and
    wait until they have ended. psutil checks each handle's start time before signalling, so a pid reused by
    an unrelated process is never touched. A zombie has ended: its parent (the sandbox's init, or init) collects
    it, and waiting for that would wait on a process that is not ours."""
    alive = [p for p in processes if _running(p)]
    if grace_s > 0:
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.terminate()
        alive = _until_ended(alive, grace_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _until_ended(alive, _KILLED_S)


#: how long a SIGKILLed process may take to be gone before reap gives up on it
_KILLED_S = 5.0


def _until_ended(processes: list[Any], timeout_s: float) -> list[Any]:
    """Those of ``processes`` still running after ``timeout_s``; returns as soon as none is."""
    deadline = time.monotonic() + timeout_s
    while (alive := [p for p in processes if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return alive


def _running(proc: Any) -> bool:
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False
