"""The README's examples of what kodo-bot posts are what the renderer posts today, in a real run of the demo
story (played in process on a script, through the GitHub emulator: a few seconds)."""

from __future__ import annotations

import difflib

import pytest

from kodo_bot.sandbox.readme_examples import EXAMPLES, README, current_readme, fill, normalise


def test_the_readme_shows_what_the_bot_posts():
    text = README.read_text(encoding="utf-8")
    wanted = current_readme(text)
    diff = "".join(difflib.unified_diff(text.splitlines(True), wanted.splitlines(True), "README.md", "generated"))
    assert wanted == text, (
        f"the README's examples drifted from what kodo-bot posts; run "
        f"`python -m kodo_bot.sandbox.readme_examples --write` and read the change:\n{diff}"
    )
    for name in EXAMPLES:
        assert f"<!-- example:{name} -->" in text


def test_a_drifted_example_is_replaced_and_nothing_else():
    readme = (
        "# x\n\nbefore\n\n<!-- example:round-comment -->\n```markdown\nold\n```\n<!-- /example -->\n\nafter\n"
        "<!-- example:other -->\nuntouched\n<!-- /example -->\n"
    )
    filled = fill(readme, {"round-comment": "### new\n\n  ```\n  output\n  ```\n"})
    assert filled == (
        "# x\n\nbefore\n\n<!-- example:round-comment -->\n````markdown\n### new\n\n  ```\n  output\n  ```\n"
        "````\n<!-- /example -->\n\nafter\n<!-- example:other -->\nuntouched\n<!-- /example -->\n"
    )
    assert fill(filled, {"round-comment": "### new\n\n  ```\n  output\n  ```\n"}) == filled
    with pytest.raises(ValueError, match="no block for summary-comment"):
        fill(readme, {"summary-comment": "x"})


def test_what_differs_between_runs_becomes_a_placeholder():
    sha = "740bd1064e168e3a4a7780d809d0803569bade5f"
    body = (
        f"Run `20261202-204746-85cb` · [Actions run](http://127.0.0.1:43727/demo/calc/actions/runs/1)\n"
        f"Commit `{sha[:12]}` · cycle 1 · 2 verifier(s) · 1 min 4 s   \n"
        f"  commit {sha}\n  Date:   Wed Dec 2 20:47:47 2026 +0000\n  Ran 2 tests in 0.003s\n"
        f"Commit `cad82eb8af7b` · last heartbeat 2026-12-02 20:47:51 UTC\n"
        "| 2 | 2 | 4 s | \\$0.01 API · \\$1,234.5 subscription |\n| orchestrator | api | 4 | 2,259 / 226 | \\$0.01 |"
    )
    assert normalise(body, "http://127.0.0.1:43727") == (
        "Run `<run-id>` · [Actions run](https://github.com/demo/calc/actions/runs/1)\n"
        "Commit `<sha-1>` · cycle 1 · 2 verifier(s) · <duration>\n"
        "  commit <sha-1>\n  Date:   <date>\n  Ran 2 tests in <duration>\n"
        "Commit `<sha-2>` · last heartbeat <time>\n"
        "| 2 | 2 | <duration> | \\$<cost> API · \\$<cost> subscription |\n"
        "| orchestrator | api | 4 | <tokens> / <tokens> | \\$<cost> |"
    )
