"""`kodo-bot demo` plays the whole GitHub story offline: a labelled issue, a rejection, an accepted PR; then
a review answered in its thread and the repository's own CI failing once and fixed."""

from __future__ import annotations

import json

import pytest

from kodo_bot.cli import main

pytestmark = pytest.mark.e2e


def test_the_demo_tells_the_github_story(tmp_path, capsys):
    code = main(["demo", "--dir", str(tmp_path / "demo"), "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and result["outcome"] == "accepted" and result["pr_number"]
    assert result["acts"] == {"label": "accepted", "review": "accepted", "ci": "accepted"}
    # the review's thread resolved; CI green on main, red on the PR once, green after the fix
    assert result["after"] == {"threads_resolved": [True], "ci": ["success", "failure", "success"]}
    on_pr = [c["kind"] for c in result["comments"] if c["where"].startswith("pull request")]
    # the first run's two rounds and summary; the review's round and summary; the CI note, round, summary;
    # the answer in the review's thread
    assert on_pr == ["verdicts", "verdicts", "summary", "verdicts", "summary", "ci", "verdicts", "summary", "reply"]
    first_round = next(c for c in result["comments"] if c["kind"] == "verdicts")
    assert "changes requested" in first_round["body"]
    (reply,) = [c for c in result["comments"] if c["kind"] == "reply"]
    assert "addressed in" in reply["body"] and "calc.py line" in reply["where"]
    summaries = [c["body"] for c in result["comments"] if c["kind"] == "summary"]
    assert "Review round 1" in summaries[1] and "Review round 2" in summaries[2]
    assert result["rest_calls"] < 130
    assert result["wall_s"] < 120
    assert result["log"] and (tmp_path / "demo").exists()


def test_the_local_demo_is_still_there(tmp_path, capsys):
    code = main(["demo", "--local", "--dir", str(tmp_path / "local"), "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out.strip().splitlines()[-1])["outcome"] == "accepted"
