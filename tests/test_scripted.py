"""The in-process script itself: it must fail loudly when the engine does something the story did not
foresee, and answer errors as the real transports do, or the fast run tests could pass on a wrong engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kodo_bot.engine.ports import OrchestratorReply
from kodo_bot.errors import ModelAPIError, ModelAuthError
from kodo_bot.sandbox.scripted import Script, UnexpectedCall
from kodo_bot.sandbox.stories import bash, delegate, done, say

TOOLS = [{"name": "delegate_worker", "input_schema": {}}, {"name": "done", "input_schema": {}}]


def session(script: Script, cwd: Path, role: str = "worker"):
    return script.sessions.open(
        agent=role.split("/")[-1],
        role=role,
        system_prompt=f"You are {role}.",
        model=None,
        cwd=cwd,
        max_turns=5,
        idle_timeout_s=5,
        timeout_s=5,
    )


def ask(script: Script, text: str = "Go.") -> OrchestratorReply:
    orchestrator = script.orchestrator()
    return asyncio.run(orchestrator.reply("You are the orchestrator.", [{"role": "user", "content": text}], TOOLS))


def test_a_role_with_no_step_left_raises_at_once_naming_the_role_and_the_question():
    script = Script({"roles": {"orchestrator": [say("One answer only.")]}})
    assert ask(script).text == "One answer only."
    with pytest.raises(UnexpectedCall, match=r"'orchestrator' has no step left.*Second question"):
        ask(script, "Second question")


def test_a_role_the_scenario_does_not_hold_is_an_unexpected_call(tmp_path: Path):
    script = Script({"roles": {"orchestrator": [say("hi")]}})
    with pytest.raises(UnexpectedCall, match="'worker' is not in the scenario"):
        asyncio.run(session(script, tmp_path).query("Do the work."))


def test_assert_complete_names_the_steps_left():
    script = Script({"roles": {"orchestrator": [say("first"), done("finished")]}})
    ask(script)
    with pytest.raises(AssertionError, match=r"orchestrator: 1 \(tool done next\)"):
        script.assert_complete()
    ask(script)
    script.assert_complete()


def test_a_tool_the_orchestrator_was_not_offered_is_the_scripts_mistake():
    script = Script({"roles": {"orchestrator": [delegate(("tester", "Test it."))]}})
    with pytest.raises(UnexpectedCall, match="delegate_tester"):
        ask(script)


def test_errors_are_retried_like_the_api_orchestrator_then_fail_with_a_resume_hint():
    busy = {"error": {"status": 529, "type": "overloaded_error", "message": "busy"}}
    script = Script({"roles": {"orchestrator": [busy, busy, say("Back.")]}}, retries=2)
    notices: list[str] = []
    reply = asyncio.run(
        script.orchestrator().reply(
            "s", [{"role": "user", "content": "Go."}], TOOLS, on_retry=lambda n, d, why: notices.append(why)
        )
    )
    assert reply.text == "Back." and notices == ["HTTP 529: busy", "HTTP 529: busy"]

    script = Script({"roles": {"orchestrator": [busy, busy, busy]}}, retries=2)
    with pytest.raises(ModelAPIError, match="after 3 attempts") as raised:
        ask(script)
    assert "kodo-bot resume" in (raised.value.hint or "")


def test_a_refused_key_is_never_retried():
    refused = {"error": {"status": 401, "type": "authentication_error", "message": "invalid x-api-key"}}
    script = Script({"roles": {"orchestrator": [refused, say("never reached")]}})
    with pytest.raises(ModelAuthError, match="401"):
        ask(script)
    assert script.left() == {"orchestrator": 1}


def test_an_agent_whose_model_keeps_failing_ends_its_query_with_an_error_result(tmp_path: Path):
    """As the CLI does: it retries the model itself, then reports an error result; it does not raise."""
    busy = {"error": {"status": 500, "type": "api_error", "message": "down"}}
    script = Script({"roles": {"worker": [bash("echo one > one.txt"), busy, busy]}}, retries=1)
    result = asyncio.run(session(script, tmp_path).query("Write one.txt."))
    assert result.is_error and "kept failing" in (result.error or "")
    assert [c.exit_code for c in result.tool_calls] == [0] and (tmp_path / "one.txt").read_text() == "one\n"


def test_agent_tools_run_for_real_and_a_verifier_gets_an_empty_home(tmp_path: Path):
    script = Script({"roles": {"verifier/tester": [bash("echo $HOME; ls -A $HOME | wc -l; exit 3"), say("Seen.")]}})
    result = asyncio.run(session(script, tmp_path, "verifier/tester").query("Verify."))
    (call,) = result.tool_calls
    home, count = call.output.split()
    assert call.exit_code == 3 and count == "0" and home != str(Path.home())
    assert result.text == "Seen."
