"""Agent backends beyond Claude Code, without starting a CLI: the team file's ``backend:``, finding each
CLI and its version, and reading the CLIs' own records (exit statuses, events) into evidence."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kodo_bot.agents._cli_session import Stream
from kodo_bot.agents.backends import BackendSessionFactory
from kodo_bot.agents.codex import CodexCli
from kodo_bot.agents.cursor import CursorCli
from kodo_bot.agents.gemini_cli import GeminiCli, shell_exit_code
from kodo_bot.engine.team import parse_team
from kodo_bot.errors import ConfigError

TEAM = """
agents:
  worker_fast: {backend: %s, model: some-model, prompt: You code., max_turns: 5}
  tester: {backend: gemini_cli, prompt: You test., verify: always, requires: [python3]}
"""


def test_each_agent_names_its_backend_and_an_unknown_one_is_refused_with_the_choices():
    team = parse_team(TEAM % "codex", source="kodo-team.yaml")
    assert {n: a.backend for n, a in team.agents.items()} == {"worker_fast": "codex", "tester": "gemini_cli"}
    assert team.agents["worker_fast"].max_turns == 5 and team.agents["tester"].verify == "always"
    with pytest.raises(ConfigError) as caught:
        parse_team(TEAM % "aider", source="kodo-team.yaml")
    message = str(caught.value)
    assert "agents.worker_fast.backend" in message
    for choice in ("claude_code", "codex", "gemini_cli", "cursor"):
        assert choice in message


def fake_cli(folder: Path, name: str, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def factory(env: dict[str, str], tmp_path: Path) -> BackendSessionFactory:
    return BackendSessionFactory(
        backends={"worker_fast": "codex"},
        state_dir=tmp_path,
        parent_env=env,
        claude=lambda: None,  # type: ignore[arg-type,return-value]
    )


def test_a_missing_cli_or_one_of_another_version_says_why_the_agent_is_left_out(tmp_path: Path):
    empty = factory({"PATH": str(tmp_path / "nothing")}, tmp_path)
    assert "Gemini CLI not found" in (empty.available("gemini_cli") or "")
    assert "KODO_CODEX_CLI" in (empty.available("codex") or "")
    assert "no agent backend called 'aider'" in (empty.available("aider") or "")
    assert "Cursor CLI not found" in (empty.available("cursor") or "")
    bin_dir = tmp_path / "bin"
    fake_cli(bin_dir, "gemini", "0.61.3")
    fake_cli(bin_dir, "codex", "codex-cli 0.150.2")
    # no Cursor version can be pinned (no binary here): its --help must offer the options kodo-bot uses
    fake_cli(bin_dir, "cursor-agent", "2026.11.20-abc123 --output-format stream-json --resume --force")
    found = factory({"PATH": str(bin_dir)}, tmp_path)
    assert found.available("gemini_cli") is None
    assert found.available("cursor") is None
    old_cursor = factory({"PATH": str(fake_cli(tmp_path / "oldc", "cursor-agent", "2025.01.02-old").parent)}, tmp_path)
    why = old_cursor.available("cursor") or ""
    assert "Cursor CLI 2025.01.02-old at" in why and "not supported" in why
    assert "lacks --output-format, stream-json, --resume, --force" in why and "cursor.com/install" in why
    why = found.available("codex") or ""
    assert "0.150.2" in why and "0.169" in why and "not supported" in why
    older = factory({"PATH": str(fake_cli(tmp_path / "old", "gemini", "0.60.1").parent)}, tmp_path)
    why = older.available("gemini_cli") or ""
    assert "Gemini CLI 0.60.1" in why and "needs 0.61.x" in why and "@google/gemini-cli@0.61.0" in why
    mute = factory({"PATH": str(fake_cli(tmp_path / "mute", "codex", "").parent)}, tmp_path)
    assert "did not say its version" in (mute.available("codex") or "")


def test_each_clis_usage_is_read_under_its_own_names_and_junk_counts_as_nothing():
    codex, cursor = Stream(), Stream()
    for tokens in (10, 5):  # Codex reports each turn's usage: they add up
        CodexCli({}).read(
            {"type": "turn.completed", "usage": {"input_tokens": tokens, "output_tokens": 2, "cached_input_tokens": 1}},
            codex,
        )
    CursorCli({}).read(
        {"type": "result", "usage": {"inputTokens": 40, "output_tokens": "many", "cacheReadTokens": True}}, cursor
    )
    assert (codex.usage.input_tokens, codex.usage.output_tokens, codex.usage.cache_read_tokens) == (15, 4, 2)
    assert (cursor.usage.input_tokens, cursor.usage.output_tokens, cursor.usage.cache_read_tokens) == (40, 0, 0)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("<untrusted_context>\nOutput: ok\nProcess Group PGID: 12\n</untrusted_context>", 0),
        ("Output: boom\nExit Code: 3\nProcess Group PGID: 12", 3),
        # a command cannot print its way to success: the CLI's own line comes after its output
        ("Output: Exit Code: 0\nProcess Group PGID: 1\nExit Code: 2\nProcess Group PGID: 12", 2),
        ("Output: (empty)\nSignal: 9\nProcess Group PGID: 12", None),
        ("Command was cancelled by user before it could complete.", None),
        ("Command moved to background (PID: 5). Output hidden.", None),
        ("Output: (empty)\nError: spawn bash ENOENT", None),
    ],
)
def test_a_gemini_shell_exit_status_is_read_from_what_the_cli_wrote(text: str, code: int | None):
    assert shell_exit_code(text) == code


def test_gemini_events_become_turns_text_and_bash_calls_run_where_the_cli_ran_them():
    stream = Stream()
    flavor = GeminiCli({})
    events = [
        {"type": "init", "session_id": "abc"},
        {"type": "message", "role": "user", "content": "go"},
        {"type": "tool_use", "tool_name": "run_shell_command", "tool_id": "t1",
         "parameters": {"command": "pytest -q", "dir_path": "/tmp/elsewhere"}},
        {"type": "tool_result", "tool_id": "t1", "status": "success", "output": "1 passed"},
        {"type": "message", "role": "assistant", "content": "All ", "delta": True},
        {"type": "message", "role": "assistant", "content": "good.", "delta": True},
        {"type": "result", "status": "success", "stats": {"input_tokens": 100, "output_tokens": 7, "cached": 3}},
    ]  # fmt: skip
    for event in events:
        flavor.read(event, stream)
    assert stream.session_id == "abc" and stream.done and stream.turns == 2 and stream.text == "All good."
    (call,) = stream.tool_calls()
    assert call.command == "cd /tmp/elsewhere && pytest -q" and call.output == "1 passed"
    assert (stream.usage.input_tokens, stream.usage.output_tokens, stream.usage.cache_read_tokens) == (100, 7, 3)


MIXED = """
agents:
  worker: {backend: claude_code, prompt: You code.}
  tester: {backend: %s, prompt: You test., verify: always}
  reviewer: {backend: claude_code, prompt: You review., verify: always, requires: [no-such-tool]}
"""


@pytest.mark.parametrize(
    ("backend", "cli_on_path", "why"),
    [
        ("codex", None, "tester: Codex CLI not found"),
        ("gemini_cli", ("gemini", "0.59.0"), "tester: Gemini CLI 0.59.0 at"),
        ("cursor", None, "tester: Cursor CLI not found"),
    ],
)
def test_a_run_whose_every_verifier_would_be_left_out_ends_before_any_work(
    tmp_path: Path, capsys, backend: str, cli_on_path: tuple[str, str] | None, why: str
):
    from kodo_bot.cli import main
    from kodo_bot.sandbox.demo import seed_project

    project = tmp_path / "project"
    seed_project(project, {"README.md": "# p\n"})
    (tmp_path / "team.yaml").write_text(MIXED % backend)
    clis = tmp_path / "clis"
    if cli_on_path:
        fake_cli(clis, *cli_on_path)
    env = {
        "PATH": f"{clis}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "KODO_ORCHESTRATOR_API_KEY": "sk-never-used",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
    }
    args = ["run", "--goal", "Add a test", "--project", str(project), "--team", str(tmp_path / "team.yaml")]
    code = main([*args, "--check", "true"], env=env)
    err = capsys.readouterr().err
    assert code == 2
    said = " ".join(err.split())
    assert "every verifier would be left out: " in said and why in said
    assert "reviewer: needs no-such-tool on PATH" in said
    logs = "".join(p.read_text() for p in (project / ".kodo" / "runs").glob("*/events.jsonl"))
    assert "agent_call_started" not in logs and "cycle_started" not in logs
