"""Shared pieces of the GitHub flow tests: an emulated repository, an Actions job's environment, and ways
to read back what the bot posted (by marker kind) from the emulator's own state.

Everything real but the far ends: PyGithub talks HTTP to the emulator, git pushes to its bare repository,
the Claude Code CLI talks to the scripted model server (``action``), or a ``Script`` plays the orchestrator
and the agents in process (``play``).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import github  # noqa: F401 - imported for its side effect: its log handler exists, to be removed below

from kodo_bot.cli import main
from kodo_bot.compose import backends_from_env
from kodo_bot.engine.events import EventSink
from kodo_bot.github.context import parse_actions_env
from kodo_bot.github.entry import BotSettings, run_action
from kodo_bot.github.markers import find_marker
from kodo_bot.sandbox.demo import offline_env
from kodo_bot.sandbox.github_emulator import GitHubEmulator
from kodo_bot.sandbox.scripted import Script

# PyGithub adds a StreamHandler bound to the sys.stderr of import time; under pytest's capture that stream
# is closed by the next test. Its records still propagate to pytest's own capture.
for _handler in list(logging.getLogger("github").handlers):
    if type(_handler) is logging.StreamHandler:
        logging.getLogger("github").removeHandler(_handler)

SPEC = Path(__file__).parent / "github_spec" / "rest-openapi-subset.json"
REPO = "octo/app"
BOT = "github-actions[bot]"
WRITER = "alice"
READER = "rita"
#: what a workflow with the template's `permissions:` block gets
#: what the workflow template grants (examples/workflows/kodo.yml); actions: read for the CI's jobs and logs
JOB_PERMISSIONS = {
    "contents": "write",
    "issues": "write",
    "pull_requests": "write",
    "statuses": "write",
    "actions": "read",
}


def kodo_yml(checks: list[str], *, stale_minutes: float = 15, max_cycles: int = 4, extra: str = "") -> str:
    return (
        f"check_commands: {json.dumps(checks)}\nbudgets: {{max_cycles: {max_cycles}}}\n"
        f"lease_stale_minutes: {stale_minutes}\n{extra}"
    )


@dataclass
class Scene:
    emu: GitHubEmulator
    token: str
    tmp: Path

    def issue(self, title: str, body: str = "", *, user: str = WRITER) -> int:
        return self.emu.create_issue(REPO, title, body, user=user).number

    def label(self, number: int, *, actor: str = WRITER, label: str = "kodo") -> dict:
        return self.emu.label_issue(REPO, number, label, actor=actor)

    def env(
        self, event: dict, *, event_name: str = "issues", model_url: str | None = None, name: str = "job", **extra: str
    ) -> dict[str, str]:
        """The environment of one Actions job step for ``event`` (written to its own event file)."""
        job = self.tmp / name
        job.mkdir(parents=True, exist_ok=True)
        (job / "event.json").write_text(json.dumps(event), encoding="utf-8")
        env = offline_env(os.environ, model_url) if model_url else dict(os.environ)
        env.update(
            {
                "GITHUB_EVENT_NAME": event_name,
                "GITHUB_EVENT_PATH": str(job / "event.json"),
                "GITHUB_REPOSITORY": REPO,
                "GITHUB_TOKEN": self.token,
                "GITHUB_API_URL": self.emu.api_url,
                "GITHUB_SERVER_URL": self.emu.html_url,
                "GITHUB_RUN_ID": name,
                "GITHUB_STEP_SUMMARY": str(job / "summary.md"),
                "GITHUB_OUTPUT": str(job / "output.txt"),
                "KODO_WORK_DIR": str(self.tmp / "runner-work"),
                "KODO_RUNS_DIR": str(job / "runs"),
                "KODO_GITHUB_FAST": "1",
                "RUNNER_NAME": "test-runner",
                "CLAUDE_CODE_MAX_RETRIES": "0",
                "API_TIMEOUT_MS": "30000",
            }
        )
        env.update(extra)
        return env

    # -- reading back ---------------------------------------------------------------------------------
    def bot_comments(self, number: int) -> list:
        return [c for c in self.emu.comments(REPO, number) if c.user == BOT]

    def kinds(self, *numbers: int) -> Counter:
        """How many bot comments of each marker kind (``verdicts:1`` for round 1) the issue and PR hold."""
        found: Counter = Counter()
        for n in numbers:
            for c in self.bot_comments(n):
                m = find_marker(c.body)
                found[f"{m.kind}:{m.round}" if m and m.round else (m.kind if m else "unmarked")] += 1
        return found

    def pulls(self):
        return self.emu.pulls(REPO)

    def outputs(self, name: str = "job") -> dict[str, str]:
        path = self.tmp / name / "output.txt"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def summary(self, name: str = "job") -> str:
        path = self.tmp / name / "summary.md"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def assert_valid(self) -> None:
        """Every request and response matched GitHub's description, and the emulator had no bug: REST
        against the OpenAPI description, every GraphQL document the bot sent against GitHub's schema, and
        every GraphQL answer in the shape the schema gives that document."""
        assert self.emu.internal_errors == []
        self.emu.validation.assert_clean()
        assert_graphql_valid(self.emu)


def assert_graphql_valid(emu: GitHubEmulator) -> None:
    from graphql import parse, validate

    from kodo_bot.sandbox.github_emulator._graphql import github_schema
    from tests.emulator_support import assert_conforms

    schema = github_schema()
    for call in emu.calls:
        if not call.graphql or not isinstance(call.request_body, dict):
            continue
        query, variables = call.request_body["query"], call.request_body.get("variables") or {}
        assert validate(schema, parse(query)) == [], query
        data = (call.response_body or {}).get("data") if isinstance(call.response_body, dict) else None
        if data is not None:
            assert_conforms(schema, query, variables, data)


def make_scene(tmp: Path, files: dict[str, str], *, permissions: dict | None = None) -> Scene:
    emu = GitHubEmulator(tmp / "github", validate=SPEC).start()
    emu.add_repo(REPO, files=files)
    emu.add_collaborator(REPO, WRITER, "write")
    emu.add_collaborator(REPO, READER, "read")
    token = emu.add_token(BOT, permissions=permissions or JOB_PERMISSIONS)
    return Scene(emu, token, tmp)


def action(env: dict[str, str]) -> int:
    """``kodo-bot action`` in this process, with ``env`` as its environment."""
    return main(["action"], env=env)


def play(
    scene: Scene,
    event: dict,
    script: Script,
    *,
    name: str = "job",
    event_name: str = "issues",
    extra_sinks: Iterable[EventSink] = (),
    **env_extra: str,
) -> int:
    """``kodo-bot action`` on ``event`` in this process, as ``cmd_action`` runs it, with ``script`` playing
    the orchestrator and the agents: the whole GitHub flow in a second or two."""
    env = scene.env(event, name=name, event_name=event_name, **env_extra)
    settings = BotSettings(
        work_root=Path(env["KODO_WORK_DIR"]),
        runner=env["RUNNER_NAME"],
        fast=True,
        runs_dir=Path(env["KODO_RUNS_DIR"]),
        extra_sinks=tuple(extra_sinks),
    )

    def backends():
        return backends_from_env(env, orchestrator=script.orchestrator(), sessions=script.sessions)

    return run_action(parse_actions_env(env), json.dumps(event).encode(), settings, backends, sys.stdout)
