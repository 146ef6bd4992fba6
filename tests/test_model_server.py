"""The scripted model server, driven by the real anthropic client and (one e2e test) the real Claude Code
CLI through claude-agent-sdk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import anthropic
import pytest

from kodo_bot.engine.ports import role_marker
from kodo_bot.errors import ConfigError
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.scenario import Scenario, find_role, minimal_instance, sse_frames

MARKED = role_marker("orchestrator") + "\n\nYou are the orchestrator."


def client(server: ScriptedModelServer, **kwargs: object) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key="x", max_retries=0, **kwargs)


def ask(c: anthropic.Anthropic, text: str = "go", *, system: object = MARKED, **kwargs: object):
    return c.messages.create(
        model=kwargs.pop("model", "claude-test"),
        max_tokens=100,
        system=system,
        messages=[{"role": "user", "content": text}],
        **kwargs,
    )


def post(url: str, body: dict | bytes) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --- answering through the real anthropic client -------------------------------------------------------


def test_streaming_text_and_tool_use_round_trip() -> None:
    tool_input = {"file_path": "/tmp/x/hello.py", "content": "print('hi')\n", "nested": {"n": [1, 2.5, None]}}
    scenario = {
        "roles": {
            "orchestrator": [
                {"text": "Writing it.", "tool_calls": [{"name": "Write", "input": tool_input}, {"name": "Bash"}]},
            ]
        }
    }
    with ScriptedModelServer(scenario) as server:
        with client(server).messages.stream(
            model="claude-x",
            max_tokens=100,
            system=[{"type": "text", "text": MARKED}],
            messages=[{"role": "user", "content": "write hello"}],
        ) as stream:
            texts = list(stream.text_stream)
            message = stream.get_final_message()

    assert texts == ["Writing it."]
    assert message.model == "claude-x"
    assert message.stop_reason == "tool_use"
    text, write, bash = message.content
    assert text.text == "Writing it."
    assert (write.name, write.input) == ("Write", tool_input)
    assert (bash.name, bash.input) == ("Bash", {})
    assert write.id.startswith("toolu_") and write.id != bash.id
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert server.requests[0].stream is True
    server.assert_complete()


def test_non_streaming_message_with_usage_override_and_stop_reason() -> None:
    scenario = {
        "roles": {
            "orchestrator": [
                {"text": "one"},
                {"text": "two", "usage": {"input_tokens": 1234}, "stop_reason": "max_tokens"},
            ]
        }
    }
    with ScriptedModelServer(scenario) as server:
        c = client(server)
        first, second = ask(c, "first"), ask(c, "second")

    assert first.content[0].text == "one" and first.stop_reason == "end_turn"
    assert second.content[0].text == "two" and second.stop_reason == "max_tokens"
    assert second.usage.input_tokens == 1234
    # the usage reported is what the request log keeps: a benchmark's "input tokens per request"
    assert [r.input_tokens for r in server.requests] == [first.usage.input_tokens, 1234]
    assert [r.step for r in server.requests] == [0, 1]
    assert server.request_bodies[1]["messages"] == [{"role": "user", "content": "second"}]


def test_error_step_is_an_api_status_error_and_the_retry_gets_the_next_step() -> None:
    scenario = {
        "roles": {
            "orchestrator": [
                {"error": {"status": 529, "type": "overloaded_error", "message": "busy now", "retry_after": 1.5}},
                {"text": "recovered"},
            ]
        }
    }
    with ScriptedModelServer(scenario) as server:
        c = client(server)
        with pytest.raises(anthropic.APIStatusError) as caught:
            ask(c, "same request")
        retried = ask(c, "same request")

    assert caught.value.status_code == 529
    assert caught.value.response.headers["retry-after"] == "1.5"
    assert caught.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "busy now"}}
    assert isinstance(caught.value, anthropic.OverloadedError)
    assert retried.content[0].text == "recovered"
    assert [(r.outcome, r.step) for r in server.requests] == [("error", 0), ("step", 1)]


def test_identical_request_is_replayed_without_consuming_a_step() -> None:
    scenario = {
        "roles": {
            "orchestrator": [
                {"tool_calls": [{"name": "Read", "input": {"p": 1}}]},
                {"text": "b"},
            ]
        }
    }
    with ScriptedModelServer(scenario) as server:
        c = client(server)
        first = ask(c, "again")
        # the CLI's fallback after a broken stream re-sends the same request without streaming
        with c.messages.stream(
            model="other-name", max_tokens=5, system=MARKED, messages=[{"role": "user", "content": "again"}]
        ) as stream:
            replayed = stream.get_final_message()
        assert server.served("orchestrator") == 1
        assert ask(c, "different").content[0].text == "b"

    assert replayed.id == first.id and replayed.content[0].id == first.content[0].id
    assert replayed.model == "other-name"
    assert [(r.step, r.replay) for r in server.requests] == [(0, False), (0, True), (1, False)]
    server.assert_complete()


def test_replay_can_be_turned_off() -> None:
    scenario = {"roles": {"orchestrator": [{"text": "a"}, {"text": "b"}]}}
    with ScriptedModelServer(scenario, replay=False) as server:
        c = client(server)
        assert [ask(c, "same").content[0].text for _ in range(2)] == ["a", "b"]


def test_routes_by_marker_wherever_the_system_text_is() -> None:
    scenario = {
        "roles": {
            "verifier/tester": [{"text": "from the list"}, {"text": "from a system message"}],
            "worker_fast": [{"text": "worker"}, {"text": "from a string"}],
        }
    }

    def block(text: str) -> dict:
        return {"type": "text", "text": text}

    cli_blocks = [block("x-anthropic-billing-header: cc"), block("Be good.")]
    with ScriptedModelServer(scenario) as server:
        c = client(server)
        listed = ask(c, system=[*cli_blocks, block(role_marker("verifier/tester") + "\nCheck.")])
        as_string = ask(c, "hi", system="preamble\n" + role_marker("worker_fast"))
        assert listed.content[0].text == "from the list"
        assert as_string.content[0].text == "worker"
        # the CLI may send system text as messages[] entries with role "system"
        status, body = post(
            server.url + "/v1/messages?beta=true",
            {
                "model": "m",
                "max_tokens": 5,
                "future_field": {"ignored": True},
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "system", "content": [block(role_marker("verifier/tester"))]},
                ],
            },
        )
    assert status == 200 and body["content"][0]["text"] == "from a system message"
    assert server.remaining() == {"verifier/tester": 0, "worker_fast": 1}


def test_concurrent_roles_each_get_their_own_steps_in_order() -> None:
    roles = [f"worker_{i}" for i in range(6)]
    scenario = {"roles": {r: [{"text": f"{r}-{n}", "delay_s": 0.05} for n in range(3)] for r in roles}}
    answers: dict[str, list[str]] = {}

    def run(role: str) -> None:
        c = client(server)
        answers[role] = [ask(c, f"turn {n}", system=role_marker(role)).content[0].text for n in range(3)]

    with ScriptedModelServer(scenario) as server:
        threads = [threading.Thread(target=run, args=(r,)) for r in roles]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert answers == {r: [f"{r}-{n}" for n in range(3)] for r in roles}
    server.assert_complete()


# --- what the scenario did not foresee -----------------------------------------------------------------


def test_running_out_of_steps_is_a_loud_500_and_recorded() -> None:
    with ScriptedModelServer({"roles": {"orchestrator": [{"text": "only one"}]}}) as server:
        c = client(server)
        ask(c, "first")
        with pytest.raises(anthropic.InternalServerError) as caught:
            ask(c, "please plan the second cycle")
        with pytest.raises(anthropic.InternalServerError, match="no role 'ghost'"):
            ask(c, system=role_marker("ghost"))

    assert "ran out of steps for role 'orchestrator'" in str(caught.value)
    first, second = server.unexpected
    assert (first.role, first.snippet) == ("orchestrator", "please plan the second cycle")
    assert second.role == "ghost"
    with pytest.raises(AssertionError, match="ran out of steps") as failed:
        server.assert_complete()
    assert "please plan the second cycle" in str(failed.value)


def test_assert_complete_lists_steps_never_requested() -> None:
    scenario = {
        "roles": {
            "orchestrator": [{"text": "a"}, {"text": "b", "repeat": 2}],
            "tester": [{"text": "t"}],
        }
    }
    with ScriptedModelServer(scenario) as server:
        ask(client(server))
        assert server.remaining() == {"orchestrator": 2, "tester": 1}
    with pytest.raises(AssertionError) as failed:
        server.assert_complete()
    assert "orchestrator: 2 step(s) never requested, from step 1: text 'b'" in str(failed.value)
    assert "tester: 1 step(s)" in str(failed.value)


def test_side_requests_without_a_marker_get_a_harmless_answer_and_are_flagged() -> None:
    title_format = {
        "format": {
            "type": "json_schema",
            "schema": {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]},
        }
    }
    with ScriptedModelServer({"roles": {}}) as server:
        c = client(server)
        plain = ask(c, system="You are a helpful assistant.")
        _, titled = post(
            server.url + "/v1/messages",
            {
                "model": "m",
                "max_tokens": 9,
                "output_config": title_format,
                "messages": [{"role": "user", "content": "name it"}],
            },
        )
    assert plain.content[0].text == "OK"
    assert json.loads(titled["content"][0]["text"]) == {"title": "scripted"}
    assert [r.outcome for r in server.side_requests] == ["side", "side"]
    server.assert_complete()  # side requests are visible, not failures

    with ScriptedModelServer({"roles": {}}, answer_side_requests=False) as strict:
        with pytest.raises(anthropic.InternalServerError, match="no 'kodo-role:' marker"):
            ask(client(strict), system="You are a helpful assistant.")
    assert strict.unexpected[0].role is None


def test_count_tokens_and_unknown_paths() -> None:
    with ScriptedModelServer({"roles": {}}) as server:
        counted = client(server).messages.count_tokens(
            model="m", system=MARKED, messages=[{"role": "user", "content": "x" * 400}]
        )
        status, body = post(server.url + "/v1/complete", {"prompt": "hi"})
        bad_status, bad_body = post(server.url + "/v1/messages", b"{not json")
    assert counted.input_tokens >= 100
    assert status == 404 and body["type"] == "error" and body["error"]["type"] == "not_found_error"
    assert (bad_status, bad_body["error"]["type"]) == (400, "invalid_request_error")
    assert [u.path for u in server.unexpected] == ["/v1/complete", "/v1/messages"]
    assert server.requests[0].outcome == "count_tokens" and server.requests[0].role == "orchestrator"


def test_stop_cuts_a_delayed_answer_and_leaves_no_threads() -> None:
    before = set(threading.enumerate())
    server = ScriptedModelServer({"roles": {"orchestrator": [{"text": "late", "delay_s": 30}]}}).start()
    errors: list[Exception] = []

    def call() -> None:
        try:
            ask(client(server, timeout=10))
        except anthropic.APIConnectionError as exc:
            errors.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    while not server.requests:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    caller.join(5)
    assert time.monotonic() - started < 3
    assert len(errors) == 1
    assert set(threading.enumerate()) <= before


# --- the scenario format -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"roles": {"w": [{"tool_calls": [{"input": {}}]}]}}, "roles.w.0.tool_calls.0.name: Field required"),
        ({"roles": {"w": [{"error": {"status": 200}}]}}, "roles.w.0.error.status"),
        ({"roles": {"w": [{"txt": "typo"}]}}, "roles.w.0.txt: Extra inputs are not permitted"),
        ({"roles": {"w": [{}]}}, "roles.w.0: a step needs text, tool_calls or error"),
        ({"roles": {"w": [{"text": "a", "error": {"status": 500}}]}}, "roles.w.0: an error step cannot also"),
        ({"roles": {"w": [{"text": "a", "delay_s": -1}]}}, "roles.w.0.delay_s"),
        ({"roles": {"w": [{"text": "a", "stop_reason": "done"}]}}, "roles.w.0.stop_reason"),
        ({"roles": {"bad role": [{"text": "a"}]}}, "roles: role name 'bad role'"),
        (["not", "a", "mapping"], "must be a mapping"),
    ],
)
def test_scenario_validation_errors_name_the_field(data: object, field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Scenario.from_dict(data)
    assert field in str(caught.value)


def test_scenario_loads_from_yaml_and_expands_repeat(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "roles:\n  tester:\n    - text: hi\n      repeat: 3\n    - tool_calls: [{name: Bash, input: {command: ls}}]\n"
    )
    scenario = Scenario.load(path)
    assert [s.text for s in scenario.queue("tester")] == ["hi", "hi", "hi", None]
    assert scenario.queue("tester")[-1].effective_stop_reason == "tool_use"
    with pytest.raises(ConfigError, match="does not exist"):
        Scenario.load(tmp_path / "missing.yaml")
    path.write_text("roles: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Scenario.load(path)


def test_pure_helpers() -> None:
    assert find_role({"system": "kodo-role: x"}) == "x"
    quoted = {"system": "no marker", "messages": [{"role": "user", "content": "kodo-role: x"}]}
    assert find_role(quoted) is None  # a task quoting a marker does not route
    schema = {
        "type": "object",
        "required": ["a", "b"],
        "properties": {"a": {"enum": ["p", "q"]}, "b": {"type": ["integer", "null"]}, "c": {}},
    }
    assert minimal_instance(schema) == {"a": "p", "b": 0}
    message = {
        "id": "m",
        "type": "message",
        "role": "assistant",
        "model": "x",
        "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "hi"}],
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    events = [f.split(b"\n")[0].decode() for f in sse_frames(message)]
    assert events == [
        "event: message_start",
        "event: content_block_start",
        "event: content_block_delta",
        "event: content_block_stop",
        "event: message_delta",
        "event: message_stop",
    ]


# --- standalone mode -----------------------------------------------------------------------------------

STANDALONE = [sys.executable, "-m", "kodo_bot.sandbox.model_server"]


def test_standalone_serves_until_terminated_and_logs(tmp_path: Path) -> None:
    scenario = tmp_path / "rehearsal.yaml"
    scenario.write_text("roles:\n  orchestrator:\n    - text: from the rehearsal\n")
    log = tmp_path / "requests.jsonl"
    proc = subprocess.Popen(
        [*STANDALONE, "--scenario", str(scenario), "--log", str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = proc.stdout.readline().strip()
        assert first_line.startswith("listening on http://127.0.0.1:")
        url = first_line.removeprefix("listening on ")
        answer = anthropic.Anthropic(base_url=url, api_key="x", max_retries=0).messages.create(
            model="m", max_tokens=5, system=MARKED, messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.content[0].text == "from the rehearsal"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert "steps left none" in stderr
    (line,) = log.read_text().splitlines()
    assert json.loads(line)["role"] == "orchestrator"


def test_standalone_rejects_a_bad_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("roles:\n  orchestrator:\n    - txt: typo\n")
    done = subprocess.run([*STANDALONE, "--scenario", str(scenario)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "roles.orchestrator.0.txt" in done.stderr


# --- the real Claude Code CLI --------------------------------------------------------------------------


def offline_env(server: ScriptedModelServer, tmp_path: Path) -> dict[str, str]:
    return {
        "ANTHROPIC_BASE_URL": server.url,
        "ANTHROPIC_API_KEY": "scripted",
        "IS_SANDBOX": "1",
        "CLAUDE_CONFIG_DIR": str(tmp_path / "claude-config"),
        "CLAUDE_CODE_TMPDIR": str(tmp_path / "claude-tmp"),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "API_TIMEOUT_MS": "30000",
    }


@pytest.mark.e2e
def test_real_claude_code_cli_runs_a_scripted_worker(tmp_path: Path) -> None:
    import anyio
    from claude_agent_sdk import ClaudeAgentOptions, ResultMessage, query

    work = tmp_path / "work"
    work.mkdir()
    target, marker = work / "hello.py", work / "bash-ran.txt"
    scenario = {
        "roles": {
            "worker_fast": [
                {"tool_calls": [{"name": "Write", "input": {"file_path": str(target), "content": "print('hello')\n"}}]},
                {
                    "tool_calls": [
                        {
                            "name": "Bash",
                            "input": {"command": f"python3 {target} > {marker}", "description": "run hello.py"},
                        }
                    ]
                },
                {"text": "Wrote and ran hello.py."},
            ]
        }
    }

    async def run(server: ScriptedModelServer) -> list[object]:
        options = ClaudeAgentOptions(
            system_prompt=role_marker("worker_fast") + "\n\nYou are a worker.",
            cwd=work,
            permission_mode="bypassPermissions",
            env=offline_env(server, tmp_path),
        )
        return [m async for m in query(prompt="Write hello.py and run it.", options=options)]

    with ScriptedModelServer(scenario) as server:
        messages = anyio.run(run, server)

    assert target.read_text() == "print('hello')\n"
    assert marker.read_text() == "hello\n"
    result = messages[-1]
    assert isinstance(result, ResultMessage) and not result.is_error
    assert result.result == "Wrote and ran hello.py." and result.num_turns == 3
    server.assert_complete()
    assert server.side_requests == []  # the nonessential-traffic switch keeps the CLI to our requests
    assert all(r.stream and r.path == "/v1/messages?beta=true" for r in server.requests)
    assert {"Bash", "Write"} <= set(server.requests[0].tools)
