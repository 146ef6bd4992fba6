"""The orchestrator's API client against the scripted server: tools, retries, and refusals."""

import asyncio
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kodo_bot.engine.orchestrator import cycle_seed, system_prompt, tools
from kodo_bot.engine.team import default_team
from kodo_bot.errors import ModelAPIError, ModelAuthError
from kodo_bot.orchestrators.anthropic import ApiOrchestrator
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import delegate

TEAM = default_team()


def ask(url: str, retries: int = 3, notices: list | None = None, timeout_s: float = 120.0):
    orch = ApiOrchestrator(
        model="claude-haiku-5-5", api_key="k", base_url=url, retries=retries, backoff_s=0.01, timeout_s=timeout_s
    )

    async def go():
        try:
            return await orch.reply(
                system_prompt(TEAM),
                [{"role": "user", "content": "goal"}],
                tools(TEAM),
                on_retry=lambda *a: notices.append(a) if notices is not None else None,
            )
        finally:
            await orch.close()

    return asyncio.run(go())


def test_delegation_tool_calls_come_back_typed():
    step = delegate(("worker_fast", "write a"), ("tester", "test b"), text="two things at once")
    with ScriptedModelServer({"roles": {"orchestrator": [step]}}) as server:
        reply = ask(server.url)
        server.assert_complete()
        sent = server.request_bodies[0]
    assert [u.name for u in reply.tool_uses] == ["delegate_worker_fast", "delegate_tester"]
    assert reply.tool_uses[1].input == {"task": "test b"}
    assert reply.text == "two things at once"
    assert reply.usage.input_tokens > 0
    assert {t["name"] for t in sent["tools"]} == {f"delegate_{a}" for a in TEAM.agents} | {"done"}


def test_overload_and_rate_limit_are_retried_with_a_notice():
    steps = [
        {"error": {"status": 529, "type": "overloaded_error", "message": "busy", "retry_after": 0}},
        {"error": {"status": 429, "type": "rate_limit_error", "message": "slow down", "retry_after": 0}},
        {"text": "ok"},
    ]
    notices = []
    with ScriptedModelServer({"roles": {"orchestrator": steps}}) as server:
        reply = ask(server.url, notices=notices)
        server.assert_complete()
    assert reply.text == "ok"
    assert [n[0] for n in notices] == [1, 2]
    assert "529" in notices[0][2]


def test_unauthorised_stops_at_once():
    steps = [
        {"error": {"status": 401, "type": "authentication_error", "message": "invalid x-api-key"}},
        {"text": "never"},
    ]
    with ScriptedModelServer({"roles": {"orchestrator": steps}}) as server:
        with pytest.raises(ModelAuthError) as err:
            ask(server.url)
        assert server.served("orchestrator") == 1
    assert "401" in str(err.value) and "invalid x-api-key" in str(err.value)
    assert "KODO_ORCHESTRATOR_API_KEY" in err.value.hint


def test_persistent_server_errors_end_resumable():
    steps = [{"error": {"status": 500, "message": "oops"}}] * 3
    with ScriptedModelServer({"roles": {"orchestrator": steps}}) as server:
        with pytest.raises(ModelAPIError) as err:
            ask(server.url, retries=2)
    assert "after 3 attempts" in str(err.value)
    assert "kodo-bot resume" in err.value.hint


@pytest.mark.parametrize(
    "body",
    [
        '{"id": "msg_1", "type": "mess',
        "<html>bad gateway</html>",
        "{}",
        "[]",
        '{"type": "message", "content": [{"type": "tool_use", "name": "done"}], '
        '"usage": {"input_tokens": 1, "output_tokens": 1}}',
    ],
    ids=["cut", "html", "empty", "list", "tool-without-id"],
)
def test_a_malformed_200_is_retried_like_a_5xx(body):
    notices = []
    with ScriptedModelServer({"roles": {"orchestrator": [{"malformed": body}, {"text": "ok"}]}}) as server:
        reply = ask(server.url, notices=notices)
        server.assert_complete()
        outcomes = [r.outcome for r in server.requests]
    assert reply.text == "ok" and outcomes == ["malformed", "step"]
    assert [n[0] for n in notices] == [1] and "a 200 response that is not" in notices[0][2]


def test_malformed_answers_that_go_on_end_resumable():
    with ScriptedModelServer({"roles": {"orchestrator": [{"malformed": "{}"}] * 2}}) as server:
        with pytest.raises(ModelAPIError) as err:
            ask(server.url, retries=1)
        server.assert_complete()
    assert "after 2 attempts" in str(err.value) and "not a message" in str(err.value)
    assert "kodo-bot resume" in err.value.hint


def test_a_request_with_no_answer_times_out_and_is_retried():
    # The scripted server holds its answer for 30 s; the retry of the identical request is answered at once.
    notices = []
    with ScriptedModelServer({"roles": {"orchestrator": [{"text": "late", "delay_s": 30}]}}) as server:
        started = time.monotonic()
        reply = ask(server.url, notices=notices, timeout_s=0.5)
        took = time.monotonic() - started
        outcomes = [r.outcome for r in server.requests]
    assert reply.text == "late" and outcomes == ["step", "replay"]
    assert took < 5, took
    assert notices[0][2] == "no answer within 0.5s"


def test_a_model_api_that_never_answers_fails_in_bounded_time():
    # Without replay every retry gets a step of its own, and each holds its answer for 30 s.
    stalls = {"roles": {"orchestrator": [{"text": "late", "delay_s": 30}] * 3}}
    with ScriptedModelServer(stalls, replay=False) as server:
        started = time.monotonic()
        with pytest.raises(ModelAPIError) as err:
            ask(server.url, retries=2, timeout_s=0.3)
        took = time.monotonic() - started
        server.assert_complete()
    assert took < 5, took
    assert "after 3 attempts" in str(err.value) and "no answer within 0.3s" in str(err.value)


def test_unreachable_api_says_where():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ModelAPIError, match=f"cannot reach the model API at http://127.0.0.1:{port}"):
        ask(f"http://127.0.0.1:{port}", retries=1)


def test_missing_key_is_a_clear_error():
    orch = ApiOrchestrator("m")
    assert orch.missing() == "no API key for the orchestrator model"
    with pytest.raises(ModelAuthError, match="no API key"):
        asyncio.run(orch.reply("s", [{"role": "user", "content": "hi"}], []))


def test_cycle_seed_carries_only_goal_summary_and_rejection():
    seed = cycle_seed("Do X", cycle=3, max_cycles=5, previous="did half of X", rejection="tests fail")
    assert "Do X" in seed and "Cycle 3 of at most 5" in seed and "did half of X" in seed and "tests fail" in seed


def test_agent_results_reach_the_orchestrator_bounded_with_observed_commands():
    from kodo_bot.engine.models import AgentResult, ToolCall
    from kodo_bot.engine.orchestrator import RESULT_TEXT_LIMIT, describe_result

    calls = tuple(ToolCall(name="Bash", input={"command": f"step {i}"}, exit_code=i % 2) for i in range(12))
    text = describe_result(
        AgentResult(
            agent="tester",
            text="x" * (RESULT_TEXT_LIMIT + 500),
            turns=7,
            is_error=True,
            error="turn limit 7 reached",
            tool_calls=calls,
        )
    )
    assert text.startswith("tester finished after 7 turns, with an error: turn limit 7 reached.")
    assert "[... cut]" in text and "x" * RESULT_TEXT_LIMIT in text and "x" * (RESULT_TEXT_LIMIT + 1) not in text
    assert "- `step 11` -> exit 1" in text and "`step 1` " not in text  # the last ten commands


def test_cycle_seed_tells_what_the_engine_undid_or_kept_out():
    notes = [
        "`creds.txt` was not committed: it holds a credential kodo-bot was given.",
        "an agent moved the run branch from abc to def (reset, rebase or commit); kodo-bot restored it",
    ]
    seed = cycle_seed("Do X", cycle=2, max_cycles=5, previous="did X", rejection=None, notes=notes)
    assert "# What kodo-bot had to undo or keep out of the commits" in seed
    assert all(f"- {note}" in seed for note in notes)
    assert "undo or keep out" not in cycle_seed("Do X", cycle=2, max_cycles=5, previous="did X", rejection=None)


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers itself: it records what it was asked and replies with a message."""

    seen: list[tuple[str, str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        _Proxy.seen.append((self.path, self.headers.get("proxy-authorization")))
        body = json.dumps(
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "text", "text": "via proxy"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 1, "output_tokens": 1},
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_requests_go_through_the_proxy_the_environment_names(monkeypatch):
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://kodo:s3cret@127.0.0.1:{proxy.server_address[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        reply = ask("http://models.example:8080/api", retries=0)
        assert reply.text == "via proxy"
        assert _Proxy.seen == [("http://models.example:8080/api/v1/messages", "Basic a29kbzpzM2NyZXQ=")]
        # NO_PROXY exempts a host: the request goes straight there (and, here, finds nothing listening)
        monkeypatch.setenv("NO_PROXY", "models.example")
        with pytest.raises(ModelAPIError, match="cannot reach the model API at http://models.example:8080/api"):
            ask("http://models.example:8080/api", retries=0)
    finally:
        proxy.shutdown()
        proxy.server_close()
