"""Runs a registered workflow's command for real, the way an Actions runner would, and writes its log.

The command runs with ``bash -e`` in a temporary checkout of the commit, with a timeout; its output
(stdout and stderr together) goes straight to the log file in GitHub's job-log line format
(``2024-01-02T03:04:05.1234567Z text``), chunk by chunk, so a huge log is never held in memory.
Nothing here touches the emulator's state: the store records the result.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BufferedReader
from pathlib import Path
from typing import IO, cast

from kodo_bot.sandbox.github_emulator._git import BareRepo

_LINE_START = re.compile(rb"^", re.MULTILINE)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class RunResult:
    exit_code: int  # 124 after a timeout, as ``timeout(1)`` reports it
    timed_out: bool
    started_at: datetime
    completed_at: datetime
    log_path: Path

    @property
    def conclusion(self) -> str:
        return "success" if self.exit_code == 0 else "failure"


def stamp(moment: datetime | None = None) -> bytes:
    """GitHub's log timestamp: seven fractional digits and a ``Z``."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f").encode() + b"0Z "


def run_workflow(git: BareRepo, sha: str, command: str, log_path: Path, *, timeout_s: float, step: str) -> RunResult:
    """Check out ``sha``, run ``command``, and write the job log to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="emulator-ci-") as tmp, log_path.open("wb") as log:
        log.write(stamp() + b"##[group]Set up job\n" + stamp() + f"Checking out {sha}\n".encode())
        checkout = Path(tmp) / "work"
        git.checkout(sha, checkout)
        log.write(stamp() + b"##[endgroup]\n" + stamp() + f"##[group]Run {step}\n".encode())
        for line in command.splitlines() or [""]:
            log.write(stamp() + b"\x1b[36;1m" + line.encode() + b"\x1b[0m\n")
        log.write(stamp() + b"shell: /usr/bin/bash -e {0}\n" + stamp() + b"##[endgroup]\n")
        code, timed_out = _execute(command, checkout, log, timeout_s)
        if timed_out:
            log.write(stamp() + f"##[error]The action has timed out after {timeout_s:g} seconds.\n".encode())
        elif code != 0:
            log.write(stamp() + f"##[error]Process completed with exit code {code}.\n".encode())
        log.write(stamp() + b"Cleaning up orphan processes\n")
    return RunResult(code, timed_out, started, datetime.now(UTC), log_path)


def _execute(command: str, cwd: Path, log: IO[bytes], timeout_s: float) -> tuple[int, bool]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(cwd)})
    proc = subprocess.Popen(
        ["bash", "-e", "-c", command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the timeout ends the command's whole process group
    )
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    timer = threading.Timer(timeout_s, expire)
    timer.start()
    try:
        _copy_stamped(cast(BufferedReader, proc.stdout), log)
        code = proc.wait()
    finally:
        timer.cancel()
    return (124, True) if expired.is_set() else (code, False)


def _copy_stamped(source: BufferedReader, log: IO[bytes]) -> None:
    """Copy the output, prefixing each line with the time its chunk arrived."""
    pending = b""
    while chunk := source.read1(_CHUNK):
        lines, newline, pending = (pending + chunk).rpartition(b"\n")
        if newline:
            log.write(_LINE_START.sub(stamp(), lines) + b"\n")
    if pending:
        log.write(stamp() + pending + b"\n")
