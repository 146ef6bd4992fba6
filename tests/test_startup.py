"""Start-up: what kodo-bot loads before its first model request. The SDKs take seconds to import (anthropic
about 1.5 s, claude-agent-sdk about 1 s, PyGithub and mcp more; bashlex builds its parse tables on every
import, a third of a second), so none of them may be on that path; the agents' SDK is loaded in the
background once the orchestrator's first request is under way, bashlex once the run starts. Each check runs
in a fresh interpreter, as a user starts kodo-bot."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("anthropic", "claude_agent_sdk", "mcp", "github", "bashlex")


def loaded_after(code: str) -> list[str]:
    found = f"sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))"
    probe = f"{code}\nimport json, sys\nprint(json.dumps({found}))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_the_command_line_loads_no_sdk():
    assert loaded_after("import kodo_bot.cli") == []


def test_a_run_loads_no_sdk_before_its_first_model_request():
    """Everything a ``kodo-bot run`` builds before asking the orchestrator: the backends, the orchestrator
    on the API, the agents' session factory; then one orchestrator request against the scripted server."""
    code = """
import asyncio
from pathlib import Path
from kodo_bot.compose import backends_from_env
import kodo_bot.engine.launch
from kodo_bot.engine.state import RunSettings
from kodo_bot.engine.team import default_team
from kodo_bot.sandbox.model_server import ScriptedModelServer
backends = backends_from_env({"KODO_ORCHESTRATOR_API_KEY": "k"})
backends.session_factory(Path("/nonexistent"), RunSettings(team=default_team()))
with ScriptedModelServer({"roles": {"orchestrator": [{"text": "hello"}]}}) as server:
    api = backends_from_env({"KODO_ORCHESTRATOR_API_KEY": "k", "ANTHROPIC_BASE_URL": server.url})
    orchestrator = api.orchestrator(RunSettings(team=default_team()))
    ask = [{"role": "user", "content": "hi"}]
    reply = asyncio.run(orchestrator.reply("kodo-role: orchestrator", ask, []))
    assert reply.text == "hello", reply
"""
    assert loaded_after(code) == []
