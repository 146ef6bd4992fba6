"""`kodo-bot demo` plays the whole GitHub story offline: a labelled issue, a rejection, an accepted PR."""

from __future__ import annotations

import json

import pytest

from kodo_bot.cli import main

pytestmark = pytest.mark.e2e


def test_the_demo_tells_the_github_story(tmp_path, capsys):
    code = main(["demo", "--dir", str(tmp_path / "demo"), "--json"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0 and result["outcome"] == "accepted" and result["pr_number"]
    assert [c["kind"] for c in result["comments"]] == ["progress", "verdicts", "verdicts", "summary"]
    assert "changes requested" in result["comments"][1]["body"]
    assert result["rest_calls"] < 40 and result["graphql_calls"] == 1
    assert result["wall_s"] < 60
    assert result["log"] and (tmp_path / "demo").exists()


def test_the_local_demo_is_still_there(tmp_path, capsys):
    code = main(["demo", "--local", "--dir", str(tmp_path / "local"), "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out.strip().splitlines()[-1])["outcome"] == "accepted"
