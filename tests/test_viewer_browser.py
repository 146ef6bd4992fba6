"""The viewer's page in a real headless Chromium (the system's: the Debian package `chromium`, driven by
Playwright's Python package, no browser download): every event type drawn with no console error, parallel
agents overlapping on the timeline, agent text that never runs, and the live page following a log.

Without Chromium they fail, saying how to install it (as .ci/run does): a skipped check proves nothing."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from kodo_bot.engine import events as ev
from kodo_bot.viewer import build_view, render_page, view_of_log
from kodo_bot.viewer._live import LiveServer
from kodo_bot.viewer._sample import sample_events
from tests.browser_support import PAYLOAD
from tests.browser_support import Page as _Page

# a real Chromium per module: end to end, like the CLI tests (the fast subset stays under 90 s)
pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


class Page(_Page):
    """The viewer's page, once it has drawn."""

    def __init__(self, browser: Any, url: str) -> None:
        super().__init__(browser, url, ready="html[data-drawn]")


def page_file(tmp_path: Path, events: list[ev.Event], name: str = "run.html", *, csp: bool = True) -> str:
    html = render_page(build_view(events))
    if not csp:  # to see that the escaping holds by itself, without the policy behind it
        html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    path = tmp_path / name
    path.write_text(html, encoding="utf-8")
    return path.as_uri()


def log_of(folder: Path, events: list[ev.Event]) -> Path:
    log = folder / "events.jsonl"
    log.write_text("".join(e.model_dump_json() + "\n" for e in events), encoding="utf-8")
    return log


def documented_types() -> set[str]:
    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.M)) - {"type", "run_id", "seq", "at"}


def test_every_event_type_is_drawn_with_no_console_error(browser: Any, tmp_path: Path) -> None:
    events = sample_events(60)
    assert {e.type for e in events} == documented_types()
    page = Page(browser, page_file(tmp_path, events))
    body = page.text()
    # what each type shows a person
    assert "Add multiplication" in body and "accepted" in body  # run_started, run_finished
    assert page.tab.locator("section.cycle").count() == len({e.cycle for e in events if isinstance(e, ev.CycleStarted)})
    assert page.tab.locator(".decision").count() == sum(isinstance(e, ev.OrchestratorReplied) for e in events)
    assert page.tab.locator(".span.agent").count() == sum(isinstance(e, ev.AgentCallStarted) for e in events)
    assert "Commit 0001aaaaaaaa" in body  # cycle_committed
    assert "python3 -m pytest -q" in body  # checks_finished, evidence
    assert "Verifiers: tester, architect" in body  # verification_started
    assert "Zero fails" in body  # verdict_received: a finding
    assert "Verification round 1 on 0001aaaaaaaa rejected" in body.replace("\n", " ")  # verification_finished
    assert "Handle zero" in body  # steering_taken
    assert "verification rejected" in body  # cycle_ended
    assert "model API retry" in body and "sandbox on" in body  # notice
    page.tab.click("#events summary")
    page.tab.wait_for_selector("#events tr[data-type]")  # drawn when opened
    shown = set(page.tab.eval_on_selector_all("#events tr[data-type]", "rows => rows.map(r => r.dataset.type)"))
    assert shown == documented_types()
    page.tab.click(".span.agent >> nth=0")
    assert "I did it." in page.text() and "python3 -m pytest -q -k case0" in page.text()
    assert page.errors == []


def test_parallel_agents_overlap_on_the_timeline(browser: Any, tmp_path: Path) -> None:
    page = Page(browser, page_file(tmp_path, sample_events(40)))
    cycle = page.tab.locator("#cycle-1")
    fast = cycle.locator('.span[data-lane="worker_fast"]').bounding_box()
    smart = cycle.locator('.span[data-lane="worker_smart"]').bounding_box()
    tester = cycle.locator('.span[data-lane="tester"]').bounding_box()
    assert fast["x"] < smart["x"] + smart["width"] and smart["x"] < fast["x"] + fast["width"]  # same time
    assert fast["y"] != smart["y"]  # in lanes of their own
    assert tester["x"] >= max(fast["x"] + fast["width"], smart["x"] + smart["width"]) - 1  # after both: idle
    assert page.errors == []


@pytest.mark.parametrize("csp", [True, False], ids=["with-csp", "escaping-alone"])
def test_markup_in_agent_text_is_shown_as_text_and_never_runs(browser: Any, tmp_path: Path, csp: bool) -> None:
    page = Page(browser, page_file(tmp_path, sample_events(40, hostile=PAYLOAD), csp=csp))
    page.tab.click(".span.agent >> nth=0")  # the result, its tool calls and their output
    page.tab.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")  # every tail
    page.tab.wait_for_function("document.querySelectorAll('#events tr[data-type]').length > 0")
    page.tab.wait_for_timeout(300)  # an onerror would fire once the broken image failed to load
    assert page.tab.evaluate("window.__pwned") is None
    assert page.tab.locator("img, svg[onload], script:not([id]):not([src])").count() <= 1  # the viewer's own script
    assert page.tab.locator("img").count() == 0
    assert PAYLOAD in page.tab.inner_text("h1")
    assert page.text().count("window.__pwned=1") > 10  # shown, everywhere agents wrote it
    assert page.errors == []


def test_the_live_page_draws_what_the_log_gains(browser: Any, tmp_path: Path) -> None:
    events = sample_events(60)
    first_cycle = next(i for i, e in enumerate(events) if isinstance(e, ev.CycleEnded))
    log = log_of(tmp_path, events[: first_cycle + 1])
    with LiveServer(log, lambda p: view_of_log(p, live=True)) as server:
        page = Page(browser, server.url)
        assert page.tab.locator("section.cycle").count() == 1
        assert page.tab.inner_text(".live") == "live"
        with log.open("a", encoding="utf-8") as fh:
            fh.writelines(e.model_dump_json() + "\n" for e in events[first_cycle + 1 :])
        page.tab.wait_for_selector("#cycle-2", timeout=15_000)
        page.tab.wait_for_function("document.querySelector('.live').innerText === 'run finished'", timeout=15_000)
        assert page.errors == []
        page.tab.close()


def test_a_real_run_is_drawn_with_its_parallel_calls_rounds_and_git_line_counts(
    browser: Any, rehearsal: Any, tmp_path: Path
) -> None:
    """A run played in process (real git, real files, the engine's own events): rejected once, then accepted."""
    from kodo_bot.cli import main
    from kodo_bot.engine.team import Agent, Team
    from kodo_bot.sandbox.stories import delegate, done, say, verdict, write_file

    team = Team(name="two", agents={**rehearsal.TEAM.agents, "scribe": Agent(name="scribe", prompt="Notes.")})
    finding = {"severity": "high", "file": "greeting.txt", "line": 1, "message": "says <b>hi</b>, not hello"}
    roles = {
        "orchestrator": [
            delegate(("worker", "Write greeting.txt."), ("scribe", "Write notes.txt.")),
            done("Wrote both."),
            delegate(("worker", "Say hello, not hi.")),
            done("Fixed the greeting."),
        ],
        "worker": [
            {**write_file("greeting.txt", "hello hi\n"), "delay_s": 0.3},
            say("Wrote it."),
            *rehearsal.greets(),
        ],
        "scribe": [{**write_file("notes.txt", "notes\n"), "delay_s": 0.3}, say("Wrote notes.txt.")],
        "verifier/tester": [
            verdict(False, "Wrong greeting.", checks=[], findings=[finding]),
            *rehearsal.passes(),
        ],
    }
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        played = pool.submit(rehearsal.run, roles, team=team).result()
    assert played.result.outcome.value == "accepted"
    out = tmp_path / "real.html"
    assert main(["view", played.result.run_id, "--project", str(rehearsal.project), "-o", str(out)]) == 0
    page = Page(browser, out.as_uri())
    body = page.text()
    assert page.tab.locator("section.cycle").count() == 2
    worker = page.tab.locator('#cycle-1 .span[data-lane="worker"]').bounding_box()
    scribe = page.tab.locator('#cycle-1 .span[data-lane="scribe"]').bounding_box()
    assert worker["x"] < scribe["x"] + scribe["width"] and scribe["x"] < worker["x"] + worker["width"]
    assert "says <b>hi</b>, not hello" in body  # the finding, as text
    assert "Line counts from git" in body and "+1" in body
    assert "rejected" in body and "accepted" in body
    assert page.errors == []


def test_a_live_run_shows_the_call_still_running_and_an_empty_log_draws_without_error(
    browser: Any, tmp_path: Path
) -> None:
    events = sample_events(40)
    started = next(i for i, e in enumerate(events) if isinstance(e, ev.AgentCallStarted))
    log = log_of(tmp_path, events[: started + 1])
    with LiveServer(log, lambda p: view_of_log(p, live=True)) as server:
        page = Page(browser, server.url)
        running = page.tab.locator(".span.agent.running")
        assert running.count() == 1 and running.bounding_box()["width"] > 10
        assert page.errors == []
        page.tab.close()
    log.write_text("", encoding="utf-8")
    empty = tmp_path / "empty.html"
    empty.write_text(render_page(view_of_log(log)), encoding="utf-8")
    page = Page(browser, empty.as_uri())
    assert "(no run_started event)" in page.text()
    assert page.errors == []
