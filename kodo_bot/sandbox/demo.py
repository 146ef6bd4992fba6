"""``kodo-bot demo``: the whole local flow offline, for a newcomer and for rehearsals.

A scripted model server plays the orchestrator and the agents' model; the real Claude Code CLI (bundled in
claude-agent-sdk) really edits files and runs commands in a throw-away project; the engine commits, checks,
verifies, rejects once and accepts. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import git

from kodo_bot.engine.launch import RunRequest, default_state_dir, start_run
from kodo_bot.engine.log import read_events
from kodo_bot.engine.orchestrator_choice import orchestrator_fields
from kodo_bot.engine.state import RunSettings, RunStore
from kodo_bot.engine.team import Team, default_team
from kodo_bot.engine.workspace import BOT_EMAIL, BOT_NAME
from kodo_bot.report import render_report, run_summary
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import Story, demo_story
from kodo_bot.view import PlainView

#: credentials the scripted server accepts; never real ones
DEMO_KEY = "sk-kodo-demo-not-a-real-key"


def seed_project(path: Path, files: Mapping[str, str]) -> git.Repo:
    """A git project with ``files`` committed on ``main``."""
    path.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(path, initial_branch="main")
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    repo.git.add("-A")
    repo.git.commit(
        "-m",
        "Initial commit",
        env={
            "GIT_AUTHOR_NAME": BOT_NAME,
            "GIT_AUTHOR_EMAIL": BOT_EMAIL,
            "GIT_COMMITTER_NAME": BOT_NAME,
            "GIT_COMMITTER_EMAIL": BOT_EMAIL,
        },
    )
    return repo


def offline_env(env: Mapping[str, str], server_url: str) -> dict[str, str]:
    """The environment a rehearsal runs with: everything points at the scripted server."""
    return {
        **env,
        "ANTHROPIC_BASE_URL": server_url,
        # Claude Code on a subscription token, as users run their agents (an API key would bill per token)
        "CLAUDE_CODE_OAUTH_TOKEN": DEMO_KEY,
        "ANTHROPIC_API_KEY": "",
        "KODO_ORCHESTRATOR_API_KEY": DEMO_KEY,
        # the Gemini orchestrator asks the same server (``gemini_wire``)
        "GOOGLE_GEMINI_BASE_URL": server_url,
        "CLAUDE_CODE_MAX_RETRIES": "1",
        # agents on the Gemini CLI and on Codex ask it too (``gemini_wire``, ``openai_wire``)
        "GEMINI_API_KEY": DEMO_KEY,
        "OPENAI_BASE_URL": f"{server_url}/v1",
        "OPENAI_API_KEY": DEMO_KEY,
    }


def run_demo(
    where: Path | None,
    *,
    env: Mapping[str, str],
    json_mode: bool = False,
    story: Story | None = None,
    team: Team | None = None,
) -> int:
    """The local story (``demo_story`` by the default team, unless given another story and team)."""
    from kodo_bot.compose import backends_from_env

    root = Path(where or tempfile.mkdtemp(prefix="kodo-demo-")).resolve()
    story = story or demo_story()
    project = root / story.project
    if project.exists():
        print(f"kodo-bot demo: {project} already exists; pass an empty --dir", file=sys.stderr)
        return 2
    seed_project(project, story.files)
    out = sys.stderr if json_mode else sys.stdout
    print(f"Demo project: {project}\nGoal:\n{story.goal}", file=out)
    with ScriptedModelServer(story.scenario, log_path=root / "model-requests.jsonl") as server:
        chosen = orchestrator_fields(env.get("KODO_ORCHESTRATOR"), field="KODO_ORCHESTRATOR")
        settings = RunSettings(
            max_cycles=4, team=team or default_team(), check_commands=story.check_commands, ui=story.ui, **chosen
        )
        request = RunRequest(goal=story.goal, project=project, settings=settings)
        backends = backends_from_env(offline_env(env, server.url), model_backoff_s=0.2)
        state = asyncio.run(start_run(request, backends, [PlainView(out)]))
        leftovers = server.remaining()
    store = RunStore(default_state_dir(project))
    events = read_events(store.events_path(state.run_id))
    if json_mode:
        print(json.dumps(run_summary(state, events) | {"log": str(store.events_path(state.run_id))}))
    else:
        print()
        print(render_report(state, events))
        print(f"\nEvent log:   {store.events_path(state.run_id)}")
        print(f"Report:      kodo-bot report {state.run_id} --project {project}")
        print(f"The branch:  git -C {project} log --stat {state.branch}")
    if any(leftovers.values()):
        print(f"warning: the scripted story was not played to the end: {leftovers}", file=sys.stderr)
    return state.outcome.exit_code if state.outcome else 1
