"""`kodo-bot view` without a browser: the page's data, its safety as text, the command line, git line
counts, and the live server. What the page draws is tested in a real Chromium in test_viewer_browser.py."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kodo_bot.cli import main
from kodo_bot.engine import events as ev
from kodo_bot.viewer import build_view, embed_json, fit_view, render_page, view_of_log
from kodo_bot.viewer._live import LiveServer
from kodo_bot.viewer._sample import RUN_ID, sample_events

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=1"><!--'


def documented_types() -> set[str]:
    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M)) - {"type", "run_id", "seq", "at"}


def write_log(path: Path, events: list[ev.Event]) -> Path:
    path.write_text("".join(e.model_dump_json() + "\n" for e in events), encoding="utf-8")
    return path


def test_the_sample_run_has_every_documented_event_type_and_the_view_lists_each() -> None:
    events = sample_events(60)
    assert {e.type for e in events} == documented_types()
    view = build_view(events)
    assert {row[2] for row in view["events"]} == documented_types()
    assert len(view["events"]) == len(events)


def test_the_view_holds_what_each_drawing_needs() -> None:
    view = build_view(sample_events(60))
    first = view["cycles"][0]
    lanes = {s["lane"] for s in first["spans"]}
    assert {"orchestrator", "worker_fast", "worker_smart", "tester", "checks", "verifier/tester"} <= lanes
    fast, smart = (next(s for s in first["spans"] if s["lane"] == name) for name in ("worker_fast", "worker_smart"))
    assert fast["start"] < smart["end"] and smart["start"] < fast["end"]  # the two calls ran at once
    assert [d["tool_calls"] for d in first["decisions"]][0] == ["delegate_worker_fast", "delegate_worker_smart"]
    assert first["commit"]["files_changed"] == ["calc.py", "test_calc.py"]
    assert first["ended"]["reason"] == "verification rejected"
    rejected = view["rounds"][0]
    assert rejected["accepted"] is False and rejected["checks"][0]["exit_code"] == 0
    tester = next(v for v in rejected["verdicts"] if v["verifier"] == "tester")
    assert tester["findings"][0]["message"].startswith("Zero fails")
    assert tester["evidence"][0]["command"] == "python3 -m pytest -q"
    assert {p["bucket"] for p in view["cost"] if p["who"] == "orchestrator"} == {"api"}
    assert view["run"]["finished"]["outcome"] == "accepted"


def test_a_live_runs_cost_is_drawn_in_the_bucket_each_event_says() -> None:
    """Before the run's end tells every agent's bucket, each call's own event does: a Codex worker on an API
    key is paid per token, a Claude Code orchestrator by the subscription."""
    events = [e for e in sample_events(60) if not isinstance(e, ev.RunFinished)]
    events = [
        e.model_copy(update={"bucket": "subscription"})
        if isinstance(e, ev.OrchestratorReplied)
        else e.model_copy(update={"result": e.result.model_copy(update={"billing": "api"})})
        if isinstance(e, ev.AgentCallFinished) and e.result.agent == "worker_fast"
        else e
        for e in events
    ]
    view = build_view(events)
    assert {p["bucket"] for p in view["cost"] if p["who"] == "orchestrator"} == {"subscription"}
    assert {p["bucket"] for p in view["cost"] if p["who"] == "worker_fast"} == {"api"}
    assert {p["bucket"] for p in view["cost"] if p["who"] == "worker_smart"} == {"subscription"}


def test_agent_text_cannot_end_the_data_element_or_start_markup() -> None:
    page = render_page(build_view(sample_events(40, hostile=HOSTILE)))
    data = page.split('<script type="application/json" id="kodo-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and ">" not in data
    assert json.loads(data)["run"]["goal_title"] == "Add multiplication " + HOSTILE  # all of it, as text
    rest = page.replace(data, "")
    assert "<img" not in rest and "<script>window" not in rest and "&lt;/script&gt;&lt;script&gt;" in rest  # title
    assert embed_json({"x": "</script>&"}) == '{"x":"\\u003c/script\\u003e\\u0026"}'


def test_the_page_asks_the_network_for_nothing() -> None:
    page = render_page(build_view(sample_events(40)))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "default-src 'none'" in page
    assert set(re.findall(r"https?://[^\s\"')]+", page)) == {"http://www.w3.org/2000/svg"}  # a name, not a fetch


def test_a_long_run_is_cut_shorter_to_fit_and_the_page_says_where(tmp_path: Path) -> None:
    events = sample_events(400, tool_calls=30)
    full = build_view(events)
    fitted = fit_view(events, budget=len(embed_json(full)) // 2)
    assert len(embed_json(fitted)) <= len(embed_json(full)) // 2
    call = next(s for s in fitted["cycles"][0]["spans"] if s["lane"] == "worker_fast")
    assert call["result"]["tools_cut"] > 0
    assert len(fitted["events"]) == len(events)  # every event still listed


def test_kodo_bot_view_writes_one_html_file_beside_the_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_log(tmp_path / "events.jsonl", sample_events(40))
    assert main(["view", str(log)]) == 0
    out = tmp_path / "events.html"
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert main(["view", str(log), "-o", str(tmp_path / "run.html")]) == 0
    assert (tmp_path / "run.html").stat().st_size > 1000


def test_a_run_id_is_found_under_the_state_dir_and_an_unknown_one_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    (state / "runs" / RUN_ID).mkdir(parents=True)
    write_log(state / "runs" / RUN_ID / "events.jsonl", sample_events(40))
    assert main(["view", RUN_ID, "--state-dir", str(state), "-o", str(tmp_path / "r.html")]) == 0
    assert "Add multiplication" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert main(["view", "no-such-run", "--state-dir", str(state)]) == 2
    assert "no run 'no-such-run'" in capsys.readouterr().err
    assert main(["view", str(tmp_path / "missing.jsonl")]) == 2


def test_python_dash_m_kodo_bot_viewer_does_the_same(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", sample_events(40))
    done = subprocess.run(
        [sys.executable, "-m", "kodo_bot.viewer", str(log), "-o", str(tmp_path / "x.html")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "x.html").read_text(encoding="utf-8").count("<script") == 2


def test_commits_get_line_counts_from_git_when_the_project_is_here(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    (project / "calc.py").write_text("a = 1\nb = 2\n", encoding="utf-8")
    git("add", "calc.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c1")
    sha = git("rev-parse", "HEAD").strip()
    events = [
        e.model_copy(update={"project": str(project)}) if isinstance(e, ev.RunStarted) else e for e in sample_events(40)
    ]
    events = [e.model_copy(update={"sha": sha}) if isinstance(e, ev.CycleCommitted) else e for e in events]
    view = view_of_log(write_log(tmp_path / "events.jsonl", events))
    assert view["cycles"][0]["commit"]["diffstat"] == {"files": [["calc.py", 2, 0]]}
    assert view["diffstat_source"] == f"git in {project}"
    assert "diffstat" not in view_of_log(tmp_path / "events.jsonl", use_git=False)["cycles"][0]["commit"]


def _get(url: str, host: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_live_serves_the_page_and_follows_a_log_that_grows_then_stops(tmp_path: Path) -> None:
    events = sample_events(60)
    first_cycle = next(i for i, e in enumerate(events) if isinstance(e, ev.CycleEnded))
    log = write_log(tmp_path / "events.jsonl", events[: first_cycle + 1])
    server = LiveServer(log, lambda p: view_of_log(p, live=True)).start()
    try:
        status, page = _get(server.url)
        assert status == 200 and b'"live":true' in page
        status, body = _get(server.url + "data.json")
        assert len(json.loads(body)["cycles"]) == 1
        with log.open("a", encoding="utf-8") as fh:
            fh.writelines(e.model_dump_json() + "\n" for e in events[first_cycle + 1 :])
        data = json.loads(_get(server.url + "data.json")[1])
        assert len(data["cycles"]) > 1 and data["run"]["finished"]["outcome"] == "accepted"
        assert _get(server.url, host="evil.example:80")[0] == 403
        assert _get(server.url + "etc/passwd")[0] == 404
    finally:
        server.stop()
    with pytest.raises(urllib.error.URLError):
        _get(server.url)


def test_view_live_on_the_command_line_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", sample_events(40))
    proc = subprocess.Popen(
        [sys.executable, "-m", "kodo_bot.viewer", str(log), "--live"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert url, line
        assert _get(url.group(0))[0] == 200
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        assert "stopped" in proc.stderr.read() if proc.stderr else True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_open_hands_the_written_page_to_the_browser(tmp_path: Path) -> None:
    log = write_log(tmp_path / "events.jsonl", sample_events(40))
    opened = tmp_path / "opened"
    env = {**os.environ, "BROWSER": f"sh -c 'echo %s > {opened}'"}  # webbrowser runs $BROWSER with the URL
    done = subprocess.run(
        [sys.executable, "-m", "kodo_bot.viewer", str(log), "--open"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert opened.read_text().strip() == (tmp_path / "events.html").as_uri()


def test_a_call_started_again_after_a_resume_shows_its_first_try_as_interrupted() -> None:
    events = sample_events(40)
    i = next(i for i, e in enumerate(events) if isinstance(e, ev.AgentCallStarted))
    again = [events[i], ev.RunStarted(**{**events[0].model_dump(), "resumed": True}), events[i]]
    view = build_view(events[:i] + again + events[i + 1 :])
    started = events[i]
    assert isinstance(started, ev.AgentCallStarted)
    tries = [s for s in view["cycles"][0]["spans"] if s.get("call_id") == started.call_id]
    assert [t["state"] for t in tries] == ["interrupted", "ok"]
    assert view["run"]["resumes"] == 1
    assert any(m["kind"] == "resumed" for m in view["cycles"][0]["marks"])


def test_the_last_cycles_stay_whole_when_a_long_run_is_cut() -> None:
    events = sample_events(400, tool_calls=30)
    fitted = fit_view(events, budget=len(embed_json(build_view(events))) // 2)
    assert fitted["cut"] and fitted["full_from"] == len(fitted["cycles"]) - 2

    def tools(cycle: dict[str, Any]) -> int:
        return len(next(s for s in cycle["spans"] if s["lane"] == "worker_fast")["result"]["tools"])

    assert tools(fitted["cycles"][0]) < 30 and tools(fitted["cycles"][-1]) == 30
