"""The morning report as a reviewer sees it: on the emulator's pull request page, drawn from Markdown in a
real headless Chromium. Its sections are headings, lists and links, not Markdown source; what agents and
the issue's author wrote shows as text and never runs (the emulator's page does not sanitise, so any text
kodo-bot failed to escape would run here)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kodo_bot.github.markers import find_marker
from kodo_bot.sandbox.scenario import Scenario
from kodo_bot.sandbox.scripted import Script
from kodo_bot.sandbox.stories import TESTS, bash, delegate, demo_story, done, say, verdict, verifier_passes, write_file
from tests.browser_support import PAYLOAD, Page
from tests.github_support import BOT, REPO, kodo_yml, make_scene, play

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

WRONG = "def multiply(a, b):\n    return 0\n"
SECTIONS = ["What was asked", "Commits", "Checks", "Cost", "Blockers", "How to continue"]


def hostile_run() -> Scenario:
    """One cycle, rejected by the tester with a finding full of markup; the cycle limit ends the run."""
    story = demo_story()
    finding = {"severity": "high", "file": "calc.py", "line": 5, "message": f"multiply is wrong {PAYLOAD}"}
    return Scenario.from_dict(
        {
            "roles": {
                "orchestrator": [
                    delegate(("worker_fast", "Add multiply(a, b) to calc.py.")),
                    done(f"Added multiply {PAYLOAD}"),
                ],
                "worker_fast": [
                    write_file("calc.py", story.files["calc.py"] + "\n\ndef multiply(a, b):\n    return 0\n")
                ]
                + [say(f"Done {PAYLOAD}")],
                "verifier/tester": [
                    bash(TESTS),
                    verdict(False, f"Rejected {PAYLOAD}", checks=[(TESTS, 0)], findings=[finding]),
                ],
                "verifier/architect": verifier_passes(TESTS),
            }
        }
    )


def test_the_report_on_the_pr_page_is_drawn_as_markdown_and_no_markup_in_it_runs(browser: Any, tmp_path) -> None:
    story = demo_story()
    scene = make_scene(tmp_path, {**story.files, ".github/kodo.yml": kodo_yml([TESTS], max_cycles=1)})
    try:
        n = scene.issue("Add multiplication", f"- Keep `add` working\n- Add `multiply(a, b)` to calc.py {PAYLOAD}\n")
        script = Script(hostile_run())
        with ThreadPoolExecutor(1) as pool:  # Playwright's loop holds this thread; the engine runs its own
            assert pool.submit(play, scene, scene.label(n), script).result() == 4
        assert scene.outputs()["outcome"] == "max_cycles"
        script.assert_complete()
        (pull,) = scene.pulls()
        assert [c for c in scene.bot_comments(pull.number) if find_marker(c.body, "outcome")]

        page = Page(browser, f"{scene.emu.html_url}/{REPO}/pull/{pull.number}", ready="article")
        report = page.tab.locator("article", has_text="kodo-bot stopped at the cycle limit")
        headings = [h.strip() for h in report.locator("h4").all_inner_texts()]
        assert headings == SECTIONS
        # Markdown drawn: list items, inline code, the totals table, links; none of its source shows
        text = report.inner_text()
        assert report.locator("li", has_text="Keep `add` working — no finding names it").count() == 1
        assert report.locator("code", has_text=TESTS).count() >= 2  # the check and what the tester ran
        assert report.locator("table").count() >= 1 and "| ---" not in text and "####" not in text
        assert "`/kodo retry`" not in text and report.locator("code", has_text="/kodo retry").count() == 1
        # markup from the agents and the issue is shown as the text it is, in every place, and never runs
        assert report.locator("script, img, svg").count() == 0
        assert text.count("window.__pwned=1") >= 4  # the criterion, the finding twice, the summary
        assert not page.pwned() and page.errors == []

        # the issue's page: the progress comment points to the report
        issue_page = Page(browser, f"{scene.emu.html_url}/{REPO}/issues/{n}", ready="article")
        assert f"is on pull request #{pull.number}" in issue_page.text()
        # (the issue's own body is its author's raw markup, which this page runs: only the bot's comments count)
        assert issue_page.tab.locator(f"article[data-author='{BOT}'] :is(script, img, svg)").count() == 0
        assert issue_page.tab.locator(f"article[data-author='{BOT}']").count() == 1
    finally:
        scene.emu.stop()


def test_the_emulators_page_does_not_sanitise_so_the_check_above_can_fail(browser: Any, tmp_path) -> None:
    """The same markup posted raw (as a careless bot would) does run on the page: the page hides nothing."""
    scene = make_scene(tmp_path, demo_story().files)
    try:
        n = scene.issue("Raw", "plain")
        scene.emu.add_comment(REPO, n, f"raw: {PAYLOAD}", user="writer")
        page = Page(browser, f"{scene.emu.html_url}/{REPO}/issues/{n}", ready="article")
        assert page.pwned()
        missing = Page(browser, f"{scene.emu.html_url}/{REPO}/pull/{n}")  # an issue is not a pull request
        assert "404" in missing.text()
    finally:
        scene.emu.stop()
