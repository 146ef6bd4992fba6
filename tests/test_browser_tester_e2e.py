"""tester_browser for real: the real Claude Code CLI (against the scripted model server) starts the pinned
Playwright MCP server, which drives the system's Chromium, confined by bubblewrap. The UI demo's flow on the
GitHub emulator (a rejection because Send does nothing, the fix accepted, each verdict with a screenshot
the emulator serves from the ``kodo/evidence`` branch), and a browser tester whose browser cannot start
trying to pass on evidence it made up."""

from __future__ import annotations

import io
import os
import re
import stat
import struct
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kodo_bot.agents.browser import PNG_SIGNATURE, find_browser
from kodo_bot.cli import main
from kodo_bot.engine import events as ev
from kodo_bot.engine.launch import default_state_dir
from kodo_bot.engine.log import read_events
from kodo_bot.engine.models import Outcome
from kodo_bot.engine.state import RunStore
from kodo_bot.github.markers import find_marker
from kodo_bot.sandbox.demo import run_demo
from kodo_bot.sandbox.github_emulator import GitHubEmulator
from kodo_bot.sandbox.scenario import Scenario
from kodo_bot.sandbox.stories import Story, bash, delegate, done, say, verdict, write_file
from kodo_bot.sandbox.ui_demo import (
    PAGE_FIXED,
    REPO,
    SCREENSHOT,
    browser_checks,
    free_port,
    play_on_github,
    ui_story,
    ui_team,
)
from tests.backend_cli_support import CLIS
from tests.browser_support import Page

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

NPM_INSTALL = "npm install --prefix .clis --no-audit --no-fund @playwright/mcp@0.0.83 (as .ci/run does)"


@pytest.fixture
def with_browser(monkeypatch):
    """The pinned MCP server on PATH (where .ci/run installs it) beside the system chromium. Missing, the
    test fails saying what to install: skipped, the browser tester would pass unproven."""
    if not (CLIS / "playwright-mcp").exists():
        pytest.fail(f"the Playwright MCP server is not installed: {NPM_INSTALL}")
    monkeypatch.setenv("PATH", f"{CLIS}:{os.environ['PATH']}")
    found = find_browser(os.environ)
    if isinstance(found, str):
        pytest.fail(found)
    return found


def in_thread(work, *args, **kwargs):
    """``work`` in a thread of its own: the module's Chromium (Playwright's sync API) keeps an event loop in
    the test's thread once a test used it, and a run starts its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work, *args, **kwargs).result()


def fetch(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.status, answer.headers["content-type"], answer.read()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (right after the signature)."""
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_ui_demo_on_github_rejects_then_accepts_with_screenshots_the_emulator_serves(
    tmp_path, with_browser, browser
):
    with GitHubEmulator(tmp_path / "github") as emu:
        run = in_thread(play_on_github, emu, tmp_path, dict(os.environ), ui_story(free_port()), io.StringIO())
        (pull,) = emu.pulls(REPO)
        rounds = [
            c.body for c in emu.comments(REPO, pull.number) if (m := find_marker(c.body)) and m.kind == "verdicts"
        ]
        urls = [re.findall(r"!\[tester\\_browser screenshot \d+\]\(([^)\s]+)\)", body) for body in rounds]
        served = [[fetch(url) for url in found] for found in urls]
        evidence = emu.branches(REPO).get("kodo/evidence")
        # as a reviewer sees it: the pull request's page, drawn from the comments, shows both pictures
        page = Page(browser, f"{emu.html_url}/{REPO}/pull/{pull.number}", ready="article")
        shown = page.tab.eval_on_selector_all(
            "img[src*='/raw/']", "imgs => imgs.map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
        )

    assert run.outcome == "accepted", run
    first, second = rounds
    assert "Verification round 1: changes requested" in first and "The Send button does nothing." in first
    assert "Verification round 2: passed" in second and 'Clicking Send shows "Thanks, Ada' in second
    (shot_1,), (shot_2,) = urls
    assert evidence is not None and all(f"/{REPO}/raw/" in url for url in (shot_1, shot_2))
    assert "/round-1/tester_browser/1.png" in shot_1 and "/round-2/tester_browser/1.png" in shot_2
    ((status_1, kind_1, png_1),), ((status_2, kind_2, png_2),) = served
    assert (status_1, kind_1, status_2, kind_2) == (200, "image/png", 200, "image/png")
    # real pictures of the page: the browser's viewport, and not the same picture twice (round 2 says thanks)
    assert png_size(png_1) == png_size(png_2) == (1280, 720)
    assert min(len(png_1), len(png_2)) > 4000 and png_1 != png_2
    assert shown == [[True, 1280, 720], [True, 1280, 720]], page.errors
    log = read_events(run.log) if run.log else []
    judged = [(e.round, e.verdict.passed, len(e.verdict.screenshots)) for e in log if isinstance(e, ev.VerdictReceived)]
    assert judged == [(1, False, 1), (2, True, 1)]
    # the check it claims ran after the browser had started: Chromium left the verifier's HOME empty
    (last,) = [e.verdict for e in log if isinstance(e, ev.VerdictReceived) and e.round == 2]
    after = [e for e in last.evidence if e.command.startswith("curl -sf -o /dev/null")]
    assert [(e.exit_code, e.edited) for e in after] == [(0, "")], last.engine_note
    # the folder the action uploads as the artifact holds the pictures too, beside the log and its page
    uploaded = sorted(p.read_bytes() for p in (tmp_path / "runs").rglob("evidence/**/*.png"))
    assert uploaded == sorted([png_1, png_2])
    assert next((tmp_path / "runs").rglob("run.html"), None) is not None
    # the evidence push left no credential behind in the bot's clone
    for config in (tmp_path / "runner-work").rglob(".git/config"):
        assert "extraheader" not in config.read_text().lower()


def _forged_story(port: int) -> Story:
    """A browser tester whose browser never starts: it makes a PNG of its own, prints what the screenshot
    tool would have said about it, and claims a pass on a command that did succeed."""
    forged = "/tmp/shot.png"
    served = browser_checks(port)[1]["tool_calls"][0]["input"]["command"]  # curl: the page is served
    roles = {
        "orchestrator": [
            delegate(("worker_fast", "Write index.html: the sign-up page.")),
            done("Added the sign-up page."),
            done("The browser tester rejects it and I cannot change that.", success=False),
        ],
        "worker_fast": [write_file("index.html", PAGE_FIXED), say("Wrote index.html.")],
        "verifier/tester_browser": [
            *browser_checks(port)[:3],  # serve the page, wait for it, navigate (the browser fails to start)
            {"tool_calls": [SCREENSHOT]},
            bash(f"printf '\\211PNG\\r\\n\\032\\n' > {forged}"),
            bash(f"echo '- [Screenshot of viewport]({forged})'"),
            verdict(True, "The page works (screenshot).", checks=[(served, 0)]),
        ],
    }
    return Story(
        goal="# A sign-up page\n\nAdd `index.html` with a sign-up form and a Send button.\n",
        files={"README.md": "# signup\n"},
        scenario=Scenario.from_dict({"roles": roles}),
        check_commands=["grep -q '<form' index.html"],
        ui=True,
        project="signup",
    )


def test_a_browser_tester_whose_browser_cannot_start_is_not_accepted_on_evidence_it_made_up(
    tmp_path, with_browser, monkeypatch
):
    # a chromium that cannot start, where the sandbox shows it (not under /tmp, which it replaces)
    broken = Path(tempfile.mkdtemp(prefix="kodo-no-browser-", dir="/var/tmp"))
    chromium = broken / "chromium"
    chromium.write_text("#!/bin/sh\necho 'chromium: cannot start here' >&2\nexit 1\n")
    chromium.chmod(chromium.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{broken}:{os.environ['PATH']}")

    code = in_thread(run_demo, tmp_path, env=dict(os.environ), story=_forged_story(free_port()), team=ui_team())

    store = RunStore(default_state_dir(tmp_path / "signup"))
    (run_id,) = [p.name for p in store.runs_dir.iterdir()]
    log = read_events(store.events_path(run_id))
    (judged,) = [e.verdict for e in log if isinstance(e, ev.VerdictReceived)]
    end = [e for e in log if isinstance(e, ev.RunFinished)][-1]
    assert code != 0 and end.outcome is not Outcome.accepted
    assert not judged.passed and judged.screenshots == ()
    assert "needs a screenshot its browser took" in (judged.engine_note or "")
    assert "browser tools failed" in (judged.engine_note or "")
    # what it claimed did run and pass: only the missing picture sank it
    assert any(e.command.startswith("curl ") and e.exit_code == 0 for e in judged.evidence)


def test_a_screenshot_the_tester_overwrites_after_taking_it_is_shown_as_the_browser_took_it(tmp_path, with_browser):
    port = free_port()
    wait = browser_checks(port)[1]["tool_calls"][0]["input"]["command"]
    # the browser's folder is writable in the agent's sandbox: it finds it from its HOME and draws over the shot
    forge = "for f in $HOME/../../browser/*/output/*.png; do printf '\\211PNG\\r\\n\\032\\nforged' > \"$f\"; done"
    roles = {
        "orchestrator": [delegate(("worker_fast", "Write index.html: the sign-up page.")), done("Added the page.")],
        "worker_fast": [write_file("index.html", PAGE_FIXED), say("Wrote index.html.")],
        "verifier/tester_browser": [
            *browser_checks(port)[:3],
            {"tool_calls": [SCREENSHOT]},
            bash(forge),
            verdict(True, "The page is served and shows the form (screenshot).", checks=[(wait, 0)]),
        ],
    }
    goal = "# A sign-up page\n\nAdd `index.html` with a sign-up form.\n"
    scenario = Scenario.from_dict({"roles": roles})
    story = Story(goal=goal, files={"README.md": "# signup\n"}, scenario=scenario, ui=True, project="signup")

    code = in_thread(run_demo, tmp_path, env=dict(os.environ), story=story, team=ui_team())

    store = RunStore(default_state_dir(tmp_path / "signup"))
    (run_id,) = [p.name for p in store.runs_dir.iterdir()]
    (judged,) = [e.verdict for e in read_events(store.events_path(run_id)) if isinstance(e, ev.VerdictReceived)]
    drawn = list((store.run_dir(run_id) / "claude" / "browser").glob("*/output/*.png"))
    assert code == 0 and judged.passed
    assert drawn and all(b"forged" in p.read_bytes() for p in drawn)  # the forgery happened
    (shot,) = judged.screenshots
    kept = Path(shot.path).read_bytes()
    assert Path(shot.path).is_relative_to(store.run_dir(run_id) / "evidence")
    assert b"forged" not in kept and png_size(kept) == (1280, 720)


def test_demo_ui_without_the_mcp_server_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    code = main(["demo", "--ui", "--dir", str(tmp_path)], env=dict(os.environ))
    err = capsys.readouterr().err
    assert code == 2
    assert "needs a browser" in err and "npm install -g @playwright/mcp@0.0.83" in err
    assert not any(tmp_path.iterdir())
