"""``kodo-bot demo``: the whole GitHub story offline, in under a minute.

A GitHub emulator serves a repository backed by a real bare git repository; a maintainer opens an issue and
labels it ``kodo``; ``kodo-bot action`` handles that event exactly as on a runner (the same code path, the
same PyGithub client); the scripted model server plays the orchestrator and the agents' model, and the real
Claude Code CLI edits files and runs commands. Two cycles: the tester rejects the first attempt, the second
is accepted, and the draft PR becomes ready for review. Then the story goes on after the PR opens: the
maintainer requests changes on one line (kodo-bot fixes it, verifies again, answers in the thread and
resolves it), and the repository's own CI, a workflow the emulator really runs on the pushed commit, fails
once (kodo-bot reads the job's log and fixes it; CI is green after). The demo then prints what was posted.

It touches nothing outside its temporary directory and 127.0.0.1. The engine-only demo is ``--local``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kodo_bot.github.context import parse_actions_env
from kodo_bot.github.entry import BotSettings, run_action
from kodo_bot.github.markers import find_marker
from kodo_bot.sandbox.demo import offline_env
from kodo_bot.sandbox.github_emulator import GitHubEmulator
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import (
    CI_COMMAND,
    REVIEW_COMMENT,
    REVIEW_LINE,
    TESTS,
    Story,
    ci_fix_roles,
    demo_story,
    review_roles,
)
from kodo_bot.view import PlainView

REPO = "demo/calc"
MAINTAINER = "maya"
BOT = "github-actions[bot]"
#: what the workflow template grants the job's GITHUB_TOKEN
PERMISSIONS = {"contents": "write", "issues": "write", "pull_requests": "write", "statuses": "write", "actions": "read"}


@dataclass
class _DemoRun:
    """What one demo run came to: the action's exit code and what the emulator saw."""

    code: int
    #: each act's outcome: the labelled issue, the review, the CI failure
    acts: dict[str, str]
    #: what the story left on GitHub beyond comments: the review threads resolved, CI's last conclusion
    after: dict[str, Any]
    wall_s: float
    posted: list[dict[str, str]]
    outputs: dict[str, str]
    rest_calls: int
    graphql_calls: int
    log: Path | None


def run_github_demo(where: Path | None, *, env: Mapping[str, str], json_mode: bool = False) -> int:
    root = Path(where or tempfile.mkdtemp(prefix="kodo-github-demo-")).resolve()
    if root.exists() and any(root.iterdir()):
        print(f"kodo-bot demo: {root} is not empty; pass an empty --dir", file=sys.stderr)
        return 2
    out = sys.stderr if json_mode else sys.stdout
    result = _run_on_emulator(root, env, out)
    if json_mode:
        print(json.dumps(_json_report(result)))
    else:
        _print_report(result, root, out)
    return result.code


def _run_on_emulator(root: Path, env: Mapping[str, str], out: TextIO) -> _DemoRun:
    """Stage the story on a GitHub emulator and run ``kodo-bot action`` on the label event."""

    story = demo_story()
    started = time.monotonic()
    with GitHubEmulator(root / "github") as emu:
        token, number, event = stage(emu, story)
        emu.add_workflow(REPO, name="CI", command=CI_COMMAND)
        emu.run_ci(REPO, "main")  # green on the base branch
        print(
            f"GitHub emulator: {emu.html_url}/{REPO}\n@{MAINTAINER} labelled issue #{number} "
            f"{emu.issue(REPO, number).title!r} with `kodo`; running `kodo-bot action` on that event.\n",
            file=out,
        )
        act = Act(root, env, emu, token, out)
        acts = {"label": act.play("job", "issues", event, story.scenario.roles)}
        code = 0 if acts["label"] == "accepted" else 1
        if code == 0:
            acts["review"] = _review_act(act, emu)
            acts["ci"] = _ci_act(act, emu)
            code = 0 if set(acts.values()) == {"accepted"} else 1
        wall = time.monotonic() - started
        pulls = emu.pulls(REPO)
        after = {
            "threads_resolved": [t.is_resolved for p in pulls for t in emu.review_threads(REPO, p.number)],
            "ci": [r.conclusion for r in emu.workflow_runs(REPO)],
        }
        posted = posted_comments(emu, number)
        outputs = dict(line.split("=", 1) for line in (root / "job" / "output.txt").read_text().splitlines())
        calls = emu.rest_call_count()
        graphql = emu.graphql_call_count()
    log = next((root / "runs").rglob("events.jsonl"), None)
    return _DemoRun(code, acts, after, wall, posted, outputs, calls, graphql, log)


@dataclass
class Act:
    """One job of the story: ``kodo-bot action`` on one event, its model answers scripted."""

    root: Path
    env: Mapping[str, str]
    emu: GitHubEmulator
    token: str
    out: TextIO
    repo: str = REPO

    def play(self, name: str, event_name: str, event: dict[str, Any], roles: Mapping[str, Any]) -> str:
        from kodo_bot.compose import backends_from_env

        log = self.root / f"model-requests-{name}.jsonl"
        with ScriptedModelServer({"roles": dict(roles)}, log_path=log) as server:
            job_env = {
                **job_environment(self.env, self.root / name, self.emu, self.token, event, repo=self.repo),
                "GITHUB_EVENT_NAME": event_name,
            }
            settings = BotSettings(
                work_root=self.root / "runner-work",
                runner="demo-runner",
                fast=True,
                runs_dir=self.root / "runs",
                extra_sinks=(PlainView(self.out),),
            )
            agent_env = offline_env(self.env, server.url)
            run_action(
                parse_actions_env(job_env),
                json.dumps(event).encode(),
                settings,
                lambda: backends_from_env(agent_env, model_backoff_s=0.2),
                self.out,
            )
        outputs = (self.root / name / "output.txt").read_text().splitlines()
        return dict(line.split("=", 1) for line in outputs).get("outcome", "")


def _review_act(act: Act, emu: GitHubEmulator) -> str:
    (pull,) = emu.pulls(REPO)
    review = emu.submit_review(
        REPO,
        pull.number,
        user=MAINTAINER,
        event="REQUEST_CHANGES",
        comments=[{"path": "calc.py", "line": REVIEW_LINE, "body": REVIEW_COMMENT}],
    )
    (comment,) = [c for c in emu.review_comments(REPO, pull.number) if c.user == MAINTAINER]
    print(f"\n@{MAINTAINER} requested changes on calc.py line {REVIEW_LINE}: {REVIEW_COMMENT!r}\n", file=act.out)
    return act.play("review", "pull_request_review", review, review_roles([f"comment-{comment.id}"]))


def _ci_act(act: Act, emu: GitHubEmulator) -> str:
    (pull,) = emu.pulls(REPO)
    (failed,) = emu.run_ci(REPO, pull.head_ref)
    run = emu.workflow_runs(REPO)[-1]
    print(f"\nThe repository's CI ran on {pull.head_sha[:12]}: {run.conclusion}\n", file=act.out)
    outcome = act.play("ci", "workflow_run", failed, ci_fix_roles([f"ci-{run.id}-{job}" for job in run.job_ids]))
    (pull,) = emu.pulls(REPO)
    (green,) = emu.run_ci(REPO, pull.head_ref)
    print(f"\nThe repository's CI ran on {pull.head_sha[:12]}: {green['workflow_run']['conclusion']}", file=act.out)
    return outcome


def _json_report(result: _DemoRun) -> dict[str, Any]:
    return {
        "outcome": result.outputs.get("outcome"),
        "acts": result.acts,
        "after": result.after,
        "pr_number": result.outputs.get("pr-number"),
        "run_id": result.outputs.get("run-id"),
        "rest_calls": result.rest_calls,
        "graphql_calls": result.graphql_calls,
        "wall_s": round(result.wall_s, 1),
        "log": str(result.log) if result.log else None,
        "comments": result.posted,
    }


def _print_report(result: _DemoRun, root: Path, out: TextIO) -> None:
    print("\nWhat the bot posted:\n", file=out)
    for item in result.posted:
        print(f"--- {item['where']}: {item['kind']} ---\n{_clip(item['body'])}\n", file=out)
    print(
        f"Outcome: {result.outputs.get('outcome')} · PR #{result.outputs.get('pr-number') or '-'} · "
        f"{result.rest_calls} REST calls, {result.graphql_calls} GraphQL · {result.wall_s:.0f} s",
        file=out,
    )
    print(f"Event log: {result.log}\nProject clone: {root / 'runner-work'}", file=out)


def stage(emu: GitHubEmulator, story: Story) -> tuple[str, int, dict[str, Any]]:
    """The repository (the story's files and settings), a maintainer, the job's token, and the issue the
    maintainer opens and labels. Returns the token, the issue number and the ``issues.labeled`` payload."""
    files = {**story.files, ".github/kodo.yml": f"check_commands: [{json.dumps(TESTS)}]\nbudgets: {{max_cycles: 4}}\n"}
    emu.add_repo(REPO, files=files)
    emu.add_collaborator(REPO, MAINTAINER, "maintain")
    token = emu.add_token(BOT, permissions=PERMISSIONS)
    title, _, body = story.goal.lstrip("# ").partition("\n")
    issue = emu.create_issue(REPO, title.strip(), body.strip(), user=MAINTAINER)
    return token, issue.number, emu.label_issue(REPO, issue.number, "kodo", actor=MAINTAINER)


def job_environment(
    env: Mapping[str, str], job: Path, emu: GitHubEmulator, token: str, event: dict[str, Any], *, repo: str = REPO
) -> dict[str, str]:
    """What Actions would give the step: the event file, the repository, the token, the API's URL."""
    job.mkdir(parents=True, exist_ok=True)
    (job / "event.json").write_text(json.dumps(event), encoding="utf-8")
    return {
        **env,
        "GITHUB_EVENT_NAME": "issues",
        "GITHUB_EVENT_PATH": str(job / "event.json"),
        "GITHUB_REPOSITORY": repo,
        "GITHUB_TOKEN": token,
        "GITHUB_API_URL": emu.api_url,
        "GITHUB_SERVER_URL": emu.html_url,
        "GITHUB_RUN_ID": "1",
        "GITHUB_STEP_SUMMARY": str(job / "summary.md"),
        "GITHUB_OUTPUT": str(job / "output.txt"),
    }


def posted_comments(emu: GitHubEmulator, issue_number: int, *, repo: str = REPO) -> list[dict[str, str]]:
    """The bot's comments, issue first then the PR, in the order a reader meets them."""
    numbers = [issue_number] + [p.number for p in emu.pulls(repo)]
    posted: list[dict[str, str]] = []
    for n in numbers:
        where = f"issue #{n}" if n == issue_number else f"pull request #{n}"
        for c in emu.comments(repo, n):
            if c.user == BOT:
                marker = find_marker(c.body)
                posted.append({"where": where, "kind": marker.kind if marker else "comment", "body": c.body})
        for r in emu.review_comments(repo, n) if n != issue_number else []:
            if r.user == BOT:  # answers in review threads
                posted.append({"where": f"{where}, {r.path} line {r.line}", "kind": "reply", "body": r.body})
    return posted


def _clip(body: str, lines: int = 30) -> str:
    shown = [line for line in body.splitlines() if not line.startswith("<!-- kodo-bot")]
    more = len(shown) - lines
    return "\n".join(shown[:lines]) + (f"\n… ({more} more lines)" if more > 0 else "")
