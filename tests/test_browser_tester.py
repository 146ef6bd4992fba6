"""The browser tester's parts, each on its own and fast: which screenshots count, the engine's rule that a
browser verifier's pass needs one, the scripted server choosing an answer by what the tools returned, the
``kodo/evidence`` push and the emulator serving it raw, the round comment embedding it, and a team whose
browser cannot run here leaving the browser tester out. The whole flow, with the real CLI and Chromium, is
in ``test_browser_tester_e2e.py``."""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import git
import pytest

import kodo_bot
from kodo_bot.agents.browser import PNG_SIGNATURE, Seal, find_browser, screenshots
from kodo_bot.engine import events as ev
from kodo_bot.engine.models import AgentResult, Screenshot, ToolCall, Verdict
from kodo_bot.engine.team import Agent, Team
from kodo_bot.engine.verdict import judge
from kodo_bot.errors import ConfigError
from kodo_bot.github.git_remote import GitRemote
from kodo_bot.github.render import render_verification_round
from kodo_bot.sandbox.demo import seed_project
from kodo_bot.sandbox.github_emulator import GitHubEmulator
from kodo_bot.sandbox.model_server import ScriptedModelServer
from kodo_bot.sandbox.scenario import Scenario
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import delegate, done, say, verdict, verifier_passes, write_file
from tests.conftest import FAST_TEAM, GREETING_CHECK, GREETING_GOAL

SHOT = "mcp__browser__browser_take_screenshot"


def png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PNG_SIGNATURE + b"\x00" * 64)
    return path


def saved(path: Path) -> str:
    """What the MCP server's screenshot tool answers (as 0.0.83 words it)."""
    return f"### Result\n- [Screenshot of viewport]({path})\n### Page\n- Page URL: http://127.0.0.1:8000/\n"


def test_only_pngs_the_screenshot_tool_reported_in_the_browsers_folder_count(tmp_path):
    seal = Seal(tmp_path / "output", tmp_path / "evidence")
    seal.evidence.mkdir()
    taken = png(seal.output / "page-1.png")
    planted = png(seal.output / "planted.png")  # written by the agent itself: no screenshot call names it
    outside = png(tmp_path / "elsewhere.png")
    (seal.output / "fake.png").write_text("not a picture")
    calls = [
        ToolCall(tool_use_id="t1", name=SHOT, output=saved(taken)),
        ToolCall(tool_use_id="t2", name="Bash", output=f"wrote {planted}", input={"command": "cp x y"}),
        ToolCall(tool_use_id="t3", name=SHOT, output=saved(outside)),
        ToolCall(tool_use_id="t4", name=SHOT, output=saved(seal.output / "fake.png")),
        ToolCall(tool_use_id="t5", name=SHOT, output=saved(planted), is_error=True),
    ]

    seal()
    found = screenshots(calls, seal)

    kept = seal.evidence / "page-1.png"
    assert found == (Screenshot(path=str(kept), tool_use_id="t1", url="http://127.0.0.1:8000/"),)
    assert kept.read_bytes() == taken.read_bytes()


def test_the_seal_keeps_what_the_browser_wrote_and_follows_no_symlink(tmp_path):
    seal = Seal(tmp_path / "output", tmp_path / "evidence")
    seal.evidence.mkdir()
    shot = png(seal.output / "page-1.png")
    secret = tmp_path / "secret.png"  # stands for a file only kodo-bot may read, made to look like a PNG
    secret.write_bytes(PNG_SIGNATURE + b"ghp_" + b"x" * 36)
    (seal.output / "page-2.png").symlink_to(secret)

    seal()
    shot.write_bytes(PNG_SIGNATURE + b"a picture the agent drew afterwards")
    seal()

    assert sorted(p.name for p in seal.evidence.iterdir()) == ["page-1.png"]
    assert (seal.evidence / "page-1.png").read_bytes() == PNG_SIGNATURE + b"\x00" * 64


def _pass(checks: list[tuple[str, int]]) -> str:
    return verdict(True, "The page works.", checks=checks)["text"]


def test_a_browser_verifiers_pass_needs_a_screenshot_and_says_why_the_browser_failed(tmp_path):
    ran = ToolCall(name="Bash", input={"command": "curl -sf http://127.0.0.1:8000/"}, exit_code=0, output="",
                   checkout_before="", checkout_after="")  # fmt: skip
    broken = ToolCall(name="mcp__browser__browser_navigate", is_error=True,
                      output="Error: browserType.launchPersistentContext: Failed to launch chromium")  # fmt: skip
    blind = AgentResult(agent="tester_browser", text=_pass([("curl -sf http://127.0.0.1:8000/", 0)]),
                        tool_calls=(ran, broken), checkout_after="")  # fmt: skip
    seen = blind.model_copy(update={"screenshots": (Screenshot(path=str(png(tmp_path / "a.png"))),)})

    refused = judge("tester_browser", blind, browser=True)
    believed = judge("tester_browser", seen, browser=True)

    assert not refused.passed
    assert "needs a screenshot its browser took" in (refused.engine_note or "")
    assert "Failed to launch chromium" in (refused.engine_note or "")
    assert believed.passed and believed.screenshots == seen.screenshots
    assert judge("tester", blind).passed  # the rule is the browser verifier's alone


def _answer(server: ScriptedModelServer, results: str) -> str:
    """The text the server answers a verifier whose last tool returned ``results``."""
    body = {
        "model": "m",
        "max_tokens": 10,
        "system": "kodo-role: verifier/tester_browser",
        "messages": [
            {"role": "user", "content": "check it"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "snap", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": results}]},
        ],
    }
    request = urllib.request.Request(
        f"{server.url}/v1/messages", data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)["content"][0]["text"]


def test_a_branch_step_answers_by_what_the_tools_returned():
    step = {"branch": {"contains": "Thanks, Ada!", "then": say("pass"), "else": say("fail")}}
    with ScriptedModelServer({"roles": {"verifier/tester_browser": [step, step]}}) as server:
        shown = _answer(server, '- paragraph: "Thanks, Ada!"')
        blank = _answer(server, "- paragraph [ref=e6]")
    server.assert_complete()
    assert (shown, blank) == ("pass", "fail")


@pytest.mark.parametrize(
    ("step", "error"),
    [
        ({"branch": {"contains": "x", "then": say("a"), "else": say("b")}, "text": "c"}, "cannot also have"),
        ({"branch": {"contains": "x", "then": say("a")}}, "else"),
        (
            {
                "branch": {
                    "contains": "x",
                    "then": {"branch": {"contains": "y", "then": say("a"), "else": say("b")}},
                    "else": say("b"),
                }
            },  # fmt: skip
            "cannot branch again",
        ),
    ],
)
def test_a_malformed_branch_is_refused_when_the_scenario_loads(step, error):
    with pytest.raises(ConfigError, match=error):
        Scenario.from_dict({"roles": {"r": [step]}})


def test_the_in_process_script_refuses_a_branch_it_cannot_choose():
    script = Script({"roles": {"r": [{"branch": {"contains": "x", "then": say("a"), "else": say("b")}}]}})
    with pytest.raises(ConfigError, match="needs the scripted model server"):
        script.next_step("r", [{"role": "user", "content": "hi"}])


def test_evidence_is_pushed_to_its_branch_and_the_emulator_serves_it_raw(tmp_path):
    with GitHubEmulator(tmp_path / "gh") as emu:
        emu.add_repo("o/app", files={"README.md": "# app\n"})
        clone = tmp_path / "clone"
        git.Repo.clone_from(emu.git_url("o/app"), clone)
        remote = GitRemote(emu.git_url("o/app"), None)
        first = png(tmp_path / "one.png")
        second = tmp_path / "two.png"
        second.write_bytes(PNG_SIGNATURE + b"\x01" * 99)

        old = remote.publish(clone, "kodo/evidence", {"run/round-1/t/1.png": first}, "round 1")
        new = remote.publish(clone, "kodo/evidence", {"run/round-2/t/1.png": second}, "round 2")

        def fetch(path: str) -> tuple[int, bytes, str]:
            try:
                with urllib.request.urlopen(f"{emu.html_url}/o/app/raw/{path}") as got:
                    return got.status, got.read(), got.headers["content-type"]
            except urllib.error.HTTPError as exc:
                return exc.code, b"", ""

        assert fetch(f"{new}/run/round-2/t/1.png") == (200, second.read_bytes(), "image/png")
        # the earlier round stays on the branch, and its own commit keeps serving it
        assert fetch("kodo/evidence/run/round-1/t/1.png")[:2] == (200, first.read_bytes())
        assert fetch(f"{old}/run/round-1/t/1.png")[0] == 200
        assert fetch(f"{old}/run/round-2/t/1.png")[0] == 404
        assert emu.branches("o/app")["main"] != new  # the work branch is not touched


def _round(shot: Screenshot) -> ev.VerificationFinished:
    v = Verdict(verifier="tester_browser", passed=False, summary="Send does nothing.", screenshots=(shot,))
    return ev.VerificationFinished(run_id="r1", cycle=1, round=1, sha="a" * 40, accepted=False, checks=[],
                                   verdicts=[v], wall_s=1.0)  # fmt: skip


def test_the_round_comment_embeds_each_screenshot_and_names_no_local_path():
    shot = Screenshot(path="/home/runner/work/.kodo/runs/r1/evidence/x/page.png", url="http://127.0.0.1:8000/")
    url = "https://github.com/o/app/raw/abc/r1/round-1/tester_browser/1.png"

    shown = render_verification_round(_round(shot), {shot.path: url})
    refused = render_verification_round(_round(shot), "the screenshots could not be pushed to kodo/evidence: 403")

    assert f"![tester\\_browser screenshot 1]({url})" in shown
    assert shot.path not in shown and "/home/runner" not in refused
    assert "![" not in refused and "could not be pushed to kodo/evidence: 403" in refused


def test_without_the_mcp_server_the_browser_tester_is_left_out_with_a_warning(tmp_path, monkeypatch):
    # chromium installed (the Debian package), the MCP server not: the usual half-way machine
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shutil.which("chromium") and not shutil.which("playwright-mcp"), "this test needs chromium in /usr/bin"
    assert "(playwright-mcp) is not on PATH" in str(find_browser(os.environ))
    project = tmp_path / "project"
    seed_project(project, {"README.md": "# page\n"})
    team = Team(agents=[*FAST_TEAM.agents.values(),
                        Agent(name="tester_browser", prompt="You click.", verify="ui", browser=True)])  # fmt: skip
    script = Script({"roles": {
        "orchestrator": [delegate(("worker", "Write greeting.txt on the page.")), done("Added it.")],
        "worker": [write_file("greeting.txt", "hello\n"), say("Done.")],
        "verifier/tester": verifier_passes(GREETING_CHECK),
    }})  # fmt: skip
    notices: list[str] = []

    def notice(event: ev.Event) -> None:
        if isinstance(event, ev.Notice):
            notices.append(event.message)

    goal = GREETING_GOAL + "\nShow it on the page.\n"
    result = kodo_bot.run(goal, project, team=team, orchestrator=script.orchestrator(), sessions=script.sessions,
                          checks=[GREETING_CHECK], ui=True, env={}, on_event=notice)  # fmt: skip

    script.assert_complete()
    assert result.accepted
    assert (
        "agent tester_browser left out: needs playwright-mcp on PATH (npm install -g @playwright/mcp@0.0.83)" in notices
    )
    assert json.dumps(notices).count("left out") == 1


def test_doctor_names_what_the_browser_tester_lacks_and_how_to_install_it(tmp_path):
    from kodo_bot.local.doctor import check_chromium

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "chromium").symlink_to("/bin/true")
    lacking = check_chromium({"PATH": str(bin_dir)})
    (bin_dir / "playwright-mcp").symlink_to("/bin/true")
    ready = check_chromium({"PATH": str(bin_dir)})

    assert (lacking.status, lacking.fix) == ("warn", "npm install -g @playwright/mcp@0.0.83")
    assert "playwright-mcp" in lacking.detail and not lacking.required
    assert ready.status == "ok" and str(bin_dir / "playwright-mcp") in ready.detail


def test_the_uploaded_run_folder_gets_the_screenshots_and_nothing_a_link_points_at(tmp_path: Path) -> None:
    """What the action uploads beside the log: kodo-bot's copies of the screenshots, never through a link
    (the uploader would follow it to, say, a key)."""
    from kodo_bot.github.entry import _copy_log
    from kodo_bot.github.handle import HandleResult

    run = tmp_path / "state" / "r1"
    shots = run / "evidence" / "tester_browser-1"
    shots.mkdir(parents=True)
    (run / "events.jsonl").write_text("")
    (shots / "1.png").write_bytes(PNG_SIGNATURE + b"picture")
    (tmp_path / "key.pem").write_text("PRIVATE KEY")
    (shots / "2.png").symlink_to(tmp_path / "key.pem")
    (run / "evidence" / "elsewhere").symlink_to(tmp_path, target_is_directory=True)
    result = HandleResult("finished", "", run_id="r1", log_path=run / "events.jsonl")
    _copy_log(result, tmp_path / "upload")
    uploaded = sorted(p.relative_to(tmp_path / "upload") for p in (tmp_path / "upload").rglob("*") if p.is_file())
    assert [str(p) for p in uploaded] == ["r1/events.jsonl", "r1/evidence/tester_browser-1/1.png", "r1/run.html"]
    assert (tmp_path / "upload/r1/evidence/tester_browser-1/1.png").read_bytes() == PNG_SIGNATURE + b"picture"
