"""The Gemini orchestrator: the google-genai SDK against the scripted model server's Gemini API, one real
HTTP request per answer. The conversation translated both ways, a whole run (its agents in process), and
every way Gemini can fail: retried, or ended with the reason and the run resumable."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from kodo_bot.engine import events as ev
from kodo_bot.engine.models import Outcome
from kodo_bot.engine.orchestrator import tool_result
from kodo_bot.engine.team import Agent, Team
from kodo_bot.errors import ModelAPIError, ModelAuthError
from kodo_bot.orchestrators.gemini import GeminiOrchestrator
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import delegate, done, say, write_file

SYSTEM = "kodo-role: orchestrator\nYou direct a team."
TOOLS = [
    {"name": "delegate_worker", "description": "Give the worker a task.", "input_schema": {
        "type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]}},
    {"name": "done", "description": "End the cycle.", "input_schema": {
        "type": "object", "properties": {"summary": {"type": "string"}, "success": {"type": "boolean"}},
        "required": ["summary", "success"]}},
]  # fmt: skip


def gemini(server: ScriptedModelServer, **kw) -> GeminiOrchestrator:
    kw.setdefault("backoff_s", 0.01)
    return GeminiOrchestrator("gemini-2.5-flash", api_key="test-key", base_url=server.url, **kw)


def ask(orchestrator: GeminiOrchestrator, messages: list[dict], notices: list | None = None):
    async def go():
        try:
            return await orchestrator.reply(
                SYSTEM, messages, TOOLS, on_retry=(lambda *a: notices.append(a)) if notices is not None else None
            )
        finally:
            await orchestrator.close()

    return asyncio.run(go())


def test_the_conversation_goes_to_gemini_and_back_in_the_engines_format():
    roles = {
        "orchestrator": [
            {"text": "Two things at once.", "tool_calls": [
                {"name": "delegate_worker", "input": {"task": "a"}},
                {"name": "delegate_worker", "input": {"task": "b"}}]},
            done("Both done."),
        ]
    }  # fmt: skip
    with ScriptedModelServer({"roles": roles}) as server:
        first = ask(gemini(server), [{"role": "user", "content": "# Goal\nDo a and b."}])
        assert first.text == "Two things at once."
        assert [(u.name, u.input) for u in first.tool_uses] == [
            ("delegate_worker", {"task": "a"}),
            ("delegate_worker", {"task": "b"}),
        ]
        assert len({u.id for u in first.tool_uses}) == 2  # the engine matches results to calls by these
        assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
        results = [tool_result(u.id, f"worker finished {u.input['task']}", False) for u in first.tool_uses]
        messages = [
            {"role": "user", "content": "# Goal\nDo a and b."},
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": results},
        ]
        second = ask(gemini(server), messages)
        server.assert_complete()
    assert [u.name for u in second.tool_uses] == ["done"] and second.tool_uses[0].input["success"] is True
    # what went over the wire is Gemini's own format: the system instruction, function declarations with
    # their schemas, the calls as functionCall parts and the results as functionResponse parts, by name
    body = server.request_bodies[-1]
    assert body["systemInstruction"]["parts"][0]["text"].startswith("kodo-role: orchestrator")
    declared = body["tools"][0]["functionDeclarations"]
    assert [d["name"] for d in declared] == ["delegate_worker", "done"]
    # (Google's JSON accepts a field's proto name as well as its camelCase one; the SDK sends the former)
    schema = declared[1].get("parametersJsonSchema") or declared[1]["parameters_json_schema"]
    assert schema["required"] == ["summary", "success"]
    model_turn, answers = body["contents"][1], body["contents"][2]
    assert model_turn["role"] == "model" and [p["functionCall"]["args"] for p in model_turn["parts"][1:]] == [
        {"task": "a"},
        {"task": "b"},
    ]
    assert [(p["functionResponse"]["name"], p["functionResponse"]["response"]) for p in answers["parts"]] == [
        ("delegate_worker", {"result": "worker finished a"}),
        ("delegate_worker", {"result": "worker finished b"}),
    ]


def test_a_run_directed_by_gemini_runs_one_turns_delegations_at_once_and_prices_them_as_gemini(rehearsal):
    team = Team(name="two", agents={**rehearsal.TEAM.agents, "scribe": Agent(name="scribe", prompt="You write notes.")})
    slow = {**write_file("greeting.txt", "hello\n"), "delay_s": 0.3}
    script = Script(
        {
            "roles": {
                "worker": [slow, say("Wrote greeting.txt.")],
                "scribe": [{**write_file("notes.txt", "n\n"), "delay_s": 0.3}, say("Wrote notes.txt.")],
                "verifier/tester": rehearsal.passes(),
            }
        }
    )
    answers = [delegate(("worker", "Write greeting.txt saying hello."), ("scribe", "Write notes.")), done("Both.")]
    with ScriptedModelServer({"roles": {"orchestrator": answers}}) as server:
        played = rehearsal.run(script, team=team, orchestrator=gemini(server))
        server.assert_complete()
    assert played.result.outcome is Outcome.accepted
    starts = {e.agent: e for e in played.of(ev.AgentCallStarted)}
    ends = {e.result.agent: e for e in played.of(ev.AgentCallFinished)}
    assert starts["scribe"].at < ends["worker"].at and starts["worker"].at < ends["scribe"].at
    replies = played.of(ev.OrchestratorReplied)
    assert len(replies) == 2 and all(r.usage.input_tokens > 0 for r in replies)
    # Gemini 2.5 Flash's price, not Claude's: $0.30 and $2.50 per million tokens in and out, in the api bucket
    expected = sum(r.usage.input_tokens * 0.30e-6 + r.usage.output_tokens * 2.50e-6 for r in replies)
    assert sum(r.cost_usd for r in replies) == pytest.approx(expected)
    assert played.result.cost.api_usd == pytest.approx(expected, abs=1e-5)


def test_every_gemini_failure_that_may_pass_is_asked_again_with_its_reason_told():
    roles = {
        "orchestrator": [
            {"error": {"status": 429, "message": "quota"}},
            {"error": {"status": 503, "message": "overloaded"}},
            {"gemini": "blocked"},
            {"gemini": "empty"},
            {"gemini": "malformed_call"},
            {"malformed": "{cut"},
            done("Finally."),
        ]
    }
    notices: list = []
    with ScriptedModelServer({"roles": roles}) as server:
        reply = ask(gemini(server, retries=6), [{"role": "user", "content": "go"}], notices)
        server.assert_complete()
    assert [u.name for u in reply.tool_uses] == ["done"]
    said = [n[2] for n in notices]
    assert said[0].startswith("HTTP 429") and said[1].startswith("HTTP 503")
    assert "SAFETY" in said[2] and said[3] == "an empty answer" and "MALFORMED_FUNCTION_CALL" in said[4]
    assert len(said) == 6


def test_gemini_failing_past_the_retries_ends_with_the_reason_and_the_run_resumable():
    roles = {"orchestrator": [{"gemini": "blocked"}] * 3}
    with ScriptedModelServer({"roles": roles}) as server:
        with pytest.raises(ModelAPIError) as caught:
            ask(gemini(server, retries=2), [{"role": "user", "content": "go"}])
    assert not isinstance(caught.value, ModelAuthError)
    assert "blocked" in str(caught.value) and "3 attempts" in str(caught.value)
    assert "kodo-bot resume" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("status", "message", "kind", "said"),
    [
        (401, "unauthenticated", ModelAuthError, "refused the orchestrator's key (401)"),
        (400, "API key not valid. Please pass a valid API key.", ModelAuthError, "refused the orchestrator's key"),
        (404, "models/gemini-9 is not found", ModelAPIError, "does not know model"),
    ],
)
def test_a_refused_key_or_an_unknown_model_ends_at_once(status, message, kind, said):
    with ScriptedModelServer(
        {"roles": {"orchestrator": [{"error": {"status": status, "message": message}}]}}
    ) as server:
        started = time.monotonic()
        with pytest.raises(kind) as caught:
            ask(gemini(server, backoff_s=5), [{"role": "user", "content": "go"}])
        assert time.monotonic() - started < 5  # never waited to retry
        assert len(server.requests) == 1
    assert said in str(caught.value)


def test_without_a_key_nothing_is_asked():
    orchestrator = GeminiOrchestrator("gemini-2.5-flash", api_key=None)
    assert orchestrator.missing() == "no Gemini API key for the orchestrator"
    assert "GOOGLE_API_KEY" in orchestrator.fix


def test_the_scripted_server_speaks_gemini_errors_and_streams_as_gemini_does():
    import requests

    roles = {"orchestrator": [{"error": {"status": 429, "message": "slow down"}}, {"text": "hi"}]}
    with ScriptedModelServer({"roles": roles}) as server:
        body = {
            "systemInstruction": {"parts": [{"text": SYSTEM}]},
            "contents": [{"role": "user", "parts": [{"text": "x"}]}],
        }
        url = f"{server.url}/v1beta/models/gemini-2.5-flash"
        refused = requests.post(f"{url}:generateContent", json=body, timeout=10)
        streamed = requests.post(f"{url}:streamGenerateContent?alt=sse", json=body, timeout=10)
    assert refused.status_code == 429
    assert refused.json() == {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
    assert streamed.headers["Content-Type"] == "text/event-stream"
    event = json.loads(streamed.text.removeprefix("data: ").strip())
    assert event["candidates"][0]["content"]["parts"] == [{"text": "hi"}]
