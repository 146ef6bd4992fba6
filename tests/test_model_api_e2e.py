"""The model API's edges through a whole `kodo-bot run`: an answer that never comes and a malformed 200 are
retried (with a notice in the log) and the run goes on; the time a request may take is configurable."""

from __future__ import annotations

import time

import pytest

from kodo_bot.engine import events as ev
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.stories import done
from tests.e2e_support import agent_test_env, events, make_project, run_cli

pytestmark = pytest.mark.e2e

GIVES_UP = done("Nothing can be done here.", success=False)


def run(tmp_path, steps: list[dict], env_extra: dict, capsys):
    project = make_project(tmp_path)
    with ScriptedModelServer({"roles": {"orchestrator": steps}}) as server:
        started = time.monotonic()
        code, result = run_cli(
            ["run", "--goal", "Add hello", "--project", str(project)],
            {**agent_test_env(server.url), **env_extra},
            capsys,
        )
        took = time.monotonic() - started
        server.assert_complete()
        outcomes = [r.outcome for r in server.requests if r.role == "orchestrator"]
    notices = [e.message for e in events(project, result["run_id"]) if isinstance(e, ev.Notice)]
    return code, result, took, outcomes, notices


def test_an_orchestrator_request_with_no_answer_times_out_and_the_run_goes_on(tmp_path, capsys):
    stalled = {**GIVES_UP, "delay_s": 60}
    code, result, took, outcomes, notices = run(tmp_path, [stalled], {"KODO_MODEL_TIMEOUT_S": "1"}, capsys)
    # The stalled request is given up after 1 s; its retry is answered (the server replays it at once).
    assert outcomes == ["step", "replay"]
    assert code == 3 and result["outcome"] == "needs_human"
    assert any("model API: no answer within 1s; retry 1" in n for n in notices), notices
    assert took < 30, took


def test_a_malformed_200_mid_run_is_retried(tmp_path, capsys):
    cut = {"malformed": '{"id": "msg_01", "type": "message", "content": [{"type": "te'}
    code, result, _, outcomes, notices = run(tmp_path, [cut, GIVES_UP], {}, capsys)
    assert outcomes == ["malformed", "step"]
    assert code == 3 and result["outcome"] == "needs_human"
    assert any("a 200 response that is not JSON" in n for n in notices), notices


def test_a_bad_timeout_setting_is_bad_input(tmp_path, capsys):
    from kodo_bot.cli import main

    code = main(["run", "--goal", "x", "--project", str(make_project(tmp_path))], env={"KODO_MODEL_TIMEOUT_S": "soon"})
    assert code == 2 and "KODO_MODEL_TIMEOUT_S should be a number" in capsys.readouterr().err
