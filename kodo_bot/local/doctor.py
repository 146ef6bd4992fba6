"""``kodo-bot doctor``: is this machine (a runner, a laptop running ``watch``) ready for a run? One line per
check, ✓ or ✗ (or ! for something a run can do without), each ✗ with the fix.

Checks: python and git; the Claude Code CLI (its version, so it starts); the agents' credentials (present,
never printed); the orchestrator's model reachable (one free ``count_tokens`` request; ``--offline`` skips
it); with ``--repo``, the GitHub token (kind, permissions probed, whether its pushes start workflows);
Chromium for ``tester_browser``; free disk space; the runner's labels when run inside an Actions job.

Each check is a function from the environment to a ``Check`` value; ``run_checks`` collects them and
``render`` prints. The exit status is 1 when a check a run needs failed. Secrets never reach the output:
only whether a variable is set, and GitHub's and the model API's status codes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from kodo_bot.local import _model_check

Status = Literal["ok", "fail", "warn", "skip"]

_MARK = {"ok": "✓", "fail": "✗", "warn": "!", "skip": "-"}
#: below this, a run's clones, checkouts and caches may not fit
MIN_FREE_GB = 2.0
_AGENT_CREDENTIALS = ("CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""
    #: a failure of this check means a run cannot work (the exit status says so)
    required: bool = True


@dataclass(frozen=True)
class DoctorInput:
    env: Mapping[str, str]
    offline: bool = False
    repo: str | None = None
    api_url: str = "https://api.github.com"
    work_dir: Path = Path("~/.kodo-bot/work")
    #: the orchestrator to check (``--orchestrator``); None: ``KODO_ORCHESTRATOR``, else Anthropic's API
    orchestrator: str | None = None


def check_python() -> Check:
    v = sys.version_info
    ok = v >= (3, 11)
    return Check(
        "python",
        "ok" if ok else "fail",
        f"Python {v.major}.{v.minor}.{v.micro}",
        "" if ok else "use Python 3.11 or newer",
    )


def check_git() -> Check:
    out = _run(["git", "--version"])
    if out is None:
        return Check("git", "fail", "git is not on PATH", "install git (sudo apt-get install git)")
    return Check("git", "ok", out)


def check_claude_cli(env: Mapping[str, str]) -> Check:
    from kodo_bot.agents._claude_cli import cli_problem, real_cli

    configured = env.get("KODO_CLAUDE_CLI") or None
    fix = "reinstall kodo-bot (claude-agent-sdk bundles the CLI) or point KODO_CLAUDE_CLI at a working CLI"
    if problem := cli_problem(configured):
        return Check("Claude Code CLI", "fail", problem, fix)
    path = str(real_cli(configured))
    out = _run([path, "--version"], timeout=60)
    if out is None:
        return Check("Claude Code CLI", "fail", f"{path} does not start (--version failed)", fix)
    return Check("Claude Code CLI", "ok", f"{out} ({path})")


def check_agent_credentials(env: Mapping[str, str], home: Path | None = None) -> Check:
    found = [name for name in _AGENT_CREDENTIALS if (env.get(name) or "").strip()]
    home = home or Path(env.get("HOME") or Path.home())
    login = home / ".claude" / ".credentials.json"
    if found:
        return Check("agents' credentials", "ok", f"{', '.join(found)} set (value not shown)")
    if login.is_file():
        return Check("agents' credentials", "ok", f"a Claude Code login in {login}")
    return Check(
        "agents' credentials",
        "fail",
        "no CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_API_KEY or Claude Code login",
        "run `claude setup-token` and export CLAUDE_CODE_OAUTH_TOKEN, or log in with `claude`",
    )


def check_model(env: Mapping[str, str], offline: bool, spec: str | None = None) -> Check:
    """One free request to the orchestrator's API with its key (``_model_check``)."""
    if offline:
        return Check(_model_check.NAME, "skip", "not checked (--offline)", required=False)
    status, detail, fix = _model_check.model_check(env, spec)
    return Check(_model_check.NAME, "ok" if status == "ok" else "fail", detail, fix)


def check_github(env: Mapping[str, str], repo: str | None, api_url: str) -> Check:
    if repo is None:
        return Check("GitHub token", "skip", "not checked (give --repo OWNER/NAME)", required=False)
    token = (env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or "").strip()
    if not token:
        return Check(
            "GitHub token",
            "fail",
            "no GITHUB_TOKEN or GH_TOKEN",
            "export GITHUB_TOKEN (an App's or a fine-grained token with " + _needed() + ")",
        )
    from kodo_bot.github.token_probe import probe_token

    try:
        report = probe_token(api_url, token, repo, in_actions=_workflow_hint(env))
    except OSError as exc:
        return Check("GitHub token", "fail", str(exc), "check the network, or GITHUB_API_URL")
    if not report.reachable:
        return Check(
            "GitHub token",
            "fail",
            f"{report.kind} token: {report.problem}",
            "give the token access to the repository (metadata: read, contents: read)",
        )
    who = f"{report.kind} token" + (f" of {report.login}" if report.login else "")
    starts = (
        "its pushes start workflows"
        if report.starts_workflows
        else "its pushes start NO workflow (your CI will not run on the PR)"
    )
    unknown = [p for p, has in report.permissions.items() if has is None]
    detail = f"{who}; {starts}" + (f"; could not tell: {', '.join(unknown)}" if unknown else "")
    if report.missing:
        return Check(
            "GitHub token",
            "fail",
            f"{detail}; missing: {', '.join(report.missing)}",
            "grant the token " + ", ".join(report.missing),
        )
    return Check("GitHub token", "ok", f"{detail}; has {_needed()}")


def _workflow_hint(env: Mapping[str, str]) -> bool:
    """An installation token inside a job is the workflow's own unless an App was given (the action says)."""
    return env.get("KODO_WORKFLOW_TOKEN") == "true" or (
        env.get("GITHUB_ACTIONS") == "true" and not env.get("KODO_APP_ID")
    )


def _needed() -> str:
    from kodo_bot.github.token_probe import NEEDED

    return ", ".join(NEEDED)


def check_chromium(env: Mapping[str, str]) -> Check:
    """What ``tester_browser`` drives: the system's Chromium through the pinned Playwright MCP server."""
    from kodo_bot.agents.browser import find_browser

    found = find_browser(env)
    if not isinstance(found, str):
        return Check("Browser (tester_browser)", "ok", f"{found.chromium}, {found.server}", required=False)
    why, _, fix = found.partition(": ")
    return Check(
        "Browser (tester_browser)",
        "warn",
        f"{why}: UI goals are verified without the browser tester",
        fix,
        required=False,
    )


def check_disk(work_dir: Path) -> Check:
    probe = work_dir.expanduser()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 1e9
    if free_gb < MIN_FREE_GB:
        return Check(
            "free disk",
            "fail",
            f"{free_gb:.1f} GB free at {probe}",
            f"free at least {MIN_FREE_GB:.0f} GB, or set KODO_WORK_DIR elsewhere",
        )
    return Check("free disk", "ok", f"{free_gb:.1f} GB free at {probe}")


def check_runner(env: Mapping[str, str], repo: str | None, api_url: str) -> Check:
    """A runner with the ``kodo`` label (what the workflow's ``runs-on`` asks for): inside a job, this one;
    outside, the repository's runners when the token may list them. ``kodo-bot watch`` needs none."""
    name = env.get("RUNNER_NAME")
    if name:
        labels = env.get("KODO_RUNNER_LABELS", "")
        if labels and "kodo" not in [x.strip().lower() for x in labels.split(",")]:
            return Check("runner", "fail", f"runner {name} has labels {labels}, not kodo", _RUNNER_FIX)
        shown = f", labels {labels}" if labels else " (this job matched runs-on: [self-hosted, kodo])"
        return Check("runner", "ok", f"runner {name}{shown}")
    token = (env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or "").strip()
    if repo is None or not token:
        return Check(
            "runner", "skip", "not inside an Actions job; --repo looks for a runner labelled kodo", required=False
        )
    from kodo_bot.github.token_probe import list_runners

    try:
        runners = list_runners(api_url, token, repo)
    except OSError as exc:
        return Check("runner", "warn", str(exc), required=False)
    if runners is None:
        why = "the token may not list the runners (administration: read)"
        return Check("runner", "skip", f"{why}: see Settings → Actions → Runners", required=False)
    kodo = [r for r in runners if "kodo" in [str(x).lower() for x in r["labels"]]]
    online = [r for r in kodo if r["status"] == "online"]
    if online:
        return Check("runner", "ok", ", ".join(f"{r['name']} ({', '.join(r['labels'])}) online" for r in online))
    if kodo:
        names = ", ".join(r["name"] for r in kodo)
        return Check(
            "runner", "warn", f"{names} has the label kodo but is offline", "start it (./run.sh)", required=False
        )
    return Check("runner", "warn", f"no runner of {repo} has the label kodo", _RUNNER_FIX, required=False)


_RUNNER_FIX = "./config.sh --labels kodo, or add it in Settings → Actions → Runners (kodo-bot watch needs none)"


def run_checks(given: DoctorInput) -> list[Check]:
    env = given.env
    steps: list[Callable[[], Check]] = [
        check_python,
        check_git,
        lambda: check_claude_cli(env),
        lambda: check_agent_credentials(env),
        lambda: check_model(env, given.offline, given.orchestrator),
        lambda: check_github(env, given.repo, given.api_url),
        lambda: check_chromium(env),
        lambda: check_disk(given.work_dir),
        lambda: check_runner(env, given.repo, given.api_url),
    ]
    return [step() for step in steps]


def exit_status(checks: list[Check]) -> int:
    return 1 if any(c.status == "fail" and c.required for c in checks) else 0


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{_MARK[c.status]} {c.name.ljust(width)}  {c.detail}")
        if c.fix and c.status in ("fail", "warn"):
            lines.append(f"  {' ' * width}  fix: {c.fix}")
    bad = [c.name for c in checks if c.status == "fail" and c.required]
    lines.append("" if not bad else f"\nnot ready: {', '.join(bad)}")
    if not bad:
        lines[-1] = "\nready for a run"
    return "\n".join(lines)


def as_json(checks: list[Check]) -> str:
    return json.dumps({"ready": exit_status(checks) == 0, "checks": [asdict(c) for c in checks]})


def _run(argv: list[str], timeout: float = 20) -> str | None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return (done.stdout.strip() or done.stderr.strip()).splitlines()[0] if (done.stdout or done.stderr).strip() else ""


def main(given: DoctorInput, *, json_mode: bool) -> int:
    checks = run_checks(given)
    print(as_json(checks) if json_mode else render(checks))
    return exit_status(checks)


__all__ = ["Check", "DoctorInput", "main", "run_checks"]
