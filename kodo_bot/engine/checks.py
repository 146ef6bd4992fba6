"""The project's own check commands (``pytest -q`` ...), run by the engine itself in a clean checkout.

A failing check rejects the work at once, before any verifier spends tokens. The engine runs these, not an
agent, so their exit status is a fact rather than a claim.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

from kodo_bot.confine import Confinement, Leftovers
from kodo_bot.engine.models import CheckResult

OUTPUT_TAIL = 4000
#: what every check runs with: no bytecode written into the checkout under test
CHECK_DEFAULTS = {"PYTHONDONTWRITEBYTECODE": "1"}


def run_checks(
    commands: list[str],
    cwd: Path,
    *,
    env: Mapping[str, str],
    timeout_s: float = 1800,
    confinement: Confinement | None = None,
    alive: Leftovers | None = None,
) -> list[CheckResult]:
    """Run each command in order; stop at the first failure (later ones would only add noise)."""
    results = []
    for command in commands:
        result = run_check(command, cwd, env=env, timeout_s=timeout_s, confinement=confinement, alive=alive)
        results.append(result)
        if not result.passed:
            break
    return results


def run_check(
    command: str,
    cwd: Path,
    *,
    env: Mapping[str, str],
    timeout_s: float,
    confinement: Confinement | None = None,
    alive: Leftovers | None = None,
) -> CheckResult:
    """``confinement``: run it confined (bubblewrap, environment allowlist) like an agent's command.
    ``alive``: where its session is recorded while it runs, so a resumed run can end it after a crash;
    whatever it leaves running in its session is ended when it exits."""
    started = time.monotonic()
    argv, run_env = ["/bin/sh", "-c", command], dict(env)
    if confinement is not None:
        argv, run_env = confinement.command(argv, env)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=run_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a timeout ends everything it started
    )
    if alive is not None:
        alive.add(proc.pid)
    try:
        code, output = _wait(proc, timeout_s)
    finally:
        if alive is not None:
            alive.reap_one(proc.pid)
    return CheckResult(
        command=command,
        exit_code=code,
        output_tail=tail(output, OUTPUT_TAIL),
        duration_s=round(time.monotonic() - started, 3),
    )


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int, str]:
    """The exit code and output; past ``timeout_s``, its whole process group is killed and the code is 124."""
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return proc.returncode, out.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return 124, out.decode("utf-8", "replace") + f"\n[kodo-bot: timed out after {timeout_s:.0f}s]"


def tail(text: str, limit: int) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]
