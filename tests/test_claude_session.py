"""ClaudeSession against the real Claude Code CLI and the scripted model server (no stubs of either).

The e2e tests start the CLI bundled with claude-agent-sdk and point it at ``ScriptedModelServer``; what the
model says is scripted, everything else (tool execution, exit statuses, sessions on disk, the process) is
the real thing. ``agent_environment``, the exit-status rule, the SDK options, the tool hooks and the
conversation's bookkeeping are also tested directly, without a CLI.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from pathlib import Path

import git
import psutil
import pytest
from claude_agent_sdk import AssistantMessage, ResultMessage, SystemMessage, ToolUseBlock

from kodo_bot.agents._claude_conversation import Conversation
from kodo_bot.agents._claude_hooks import ToolHooks
from kodo_bot.agents._claude_options import LaunchSpec, cli_credentials, sdk_options
from kodo_bot.agents._claude_stream import QueryProgress
from kodo_bot.agents.claude import ClaudeSession, ClaudeSessionFactory, bash_exit_code
from kodo_bot.agents.env import agent_environment, claude_billing, is_secret_name
from kodo_bot.engine.ports import role_marker
from kodo_bot.engine.workspace import CleanCheckout
from kodo_bot.errors import AgentError
from kodo_bot.sandbox.demo import seed_project
from kodo_bot.sandbox.model_server import ScriptedModelServer

ROLE = "worker"
SCRIPTED_KEY = "sk-scripted-placeholder"


def bash(command: str, **step) -> dict:
    return {"tool_calls": [{"name": "Bash", "input": {"command": command}}], **step}


def say(text: str, **step) -> dict:
    return {"text": text, **step}


def serve(*steps: dict) -> ScriptedModelServer:
    return ScriptedModelServer({"roles": {ROLE: list(steps)}})


def open_session(
    server: ScriptedModelServer, tmp_path: Path, *, extra_env: dict | None = None, **kwargs
) -> ClaudeSession:
    worktree = tmp_path / "worktree"
    worktree.mkdir(exist_ok=True)
    options = {
        "agent": ROLE,
        "system_prompt": f"{role_marker(ROLE)}\n\nYou write code.",
        "cwd": worktree,
        "state_dir": tmp_path / "state",
        "max_turns": 10,
        "idle_timeout_s": 20,
        "timeout_s": 40,
        "env": {
            "ANTHROPIC_BASE_URL": server.url,
            "ANTHROPIC_API_KEY": SCRIPTED_KEY,
            "CLAUDE_CODE_MAX_RETRIES": "0",
            "API_TIMEOUT_MS": "15000",
            **(extra_env or {}),
        },
        **kwargs,
    }
    return ClaudeSession(**options)


def assert_gone(pid: int) -> None:
    """No process with this pid is left (a zombie would mean nobody waited for it: also a failure)."""
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not psutil.pid_exists(pid), f"the CLI (pid {pid}) is still there: {psutil.Process(pid).status()}"


def user_texts(body: dict) -> str:
    """Everything the user side of a request said, as one string."""
    parts = []
    for msg in body.get("messages") or []:
        if msg.get("role") != "user":
            continue
        content = msg.get("content")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(block.get("text", "") for block in content if isinstance(block, dict))
    return "\n".join(parts)


def role_bodies(server: ScriptedModelServer) -> list[dict]:
    return [body for rec, body in zip(server.requests, server.request_bodies, strict=True) if rec.role == ROLE]


# --- against the real CLI ------------------------------------------------------------------------------


@pytest.mark.e2e
def test_writes_a_file_runs_a_command_and_reports_both(tmp_path: Path) -> None:
    target = tmp_path / "worktree" / "hello.py"
    target.parent.mkdir()
    steps = [
        {"tool_calls": [{"name": "Write", "input": {"file_path": str(target), "content": "print('hi')\n"}}]},
        bash("python3 hello.py"),
        say("Done: hello.py prints hi."),
    ]
    announced: list[tuple[str, str]] = []

    async def scenario(server: ScriptedModelServer) -> None:
        factory = ClaudeSessionFactory(
            state_dir=tmp_path / "state",
            parent_env={"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": "k"},
            env={"CLAUDE_CODE_MAX_RETRIES": "0"},
            on_session_id=lambda *ids: announced.append(ids),
        )
        assert factory.available("claude_code") is None
        session = factory.open(
            agent="ada",
            role=ROLE,
            system_prompt=role_marker(ROLE),
            model=None,
            cwd=tmp_path / "worktree",
            max_turns=5,
            idle_timeout_s=20,
            timeout_s=40,
        )
        try:
            result = await session.query("Add hello.py")
        finally:
            await session.close()
        assert not result.is_error, result.error
        assert result.text == "Done: hello.py prints hi."
        assert result.turns == 3
        assert [c.name for c in result.tool_calls] == ["Write", "Bash"]
        run = result.tool_calls[1]
        assert (run.command, run.exit_code, run.is_error, run.output.strip()) == ("python3 hello.py", 0, False, "hi")
        assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
        assert result.cost_usd > 0
        assert result.agent == "ada"
        assert result.session_id and announced == [("ada", result.session_id)]

    with serve(*steps) as server:
        asyncio.run(scenario(server))
        server.assert_complete()
    assert target.read_text() == "print('hi')\n"


@pytest.mark.e2e
def test_a_verifier_started_before_its_checkout_holds_the_commit_asks_what_it_would_have(tmp_path: Path) -> None:
    """The engine starts a verifier's CLI in an empty clone and checks the commit out later (to take the start
    off the critical path). Its first request must be the one a CLI started in the full checkout sends: a
    verifier loads no settings, so nothing of the checkout (here a CLAUDE.md) is read at start either way."""
    project = tmp_path / "project"
    seed_project(project, {"README.md": "# x\n", "CLAUDE.md": "MARKER-7 always answer banana\n"})
    sha = git.Repo(project).head.commit.hexsha
    sent = []
    for early in (True, False):
        with ScriptedModelServer({"roles": {"verifier/tester": [say("ok")]}}) as server:
            checkout = CleanCheckout(git.Repo(project), None, tmp_path / "checkout")
            checkout.prepare()
            env = {"ANTHROPIC_BASE_URL": server.url, "ANTHROPIC_API_KEY": SCRIPTED_KEY, "CLAUDE_CODE_MAX_RETRIES": "0"}
            factory = ClaudeSessionFactory(state_dir=tmp_path / f"state-{early}", env=env)
            session = factory.open(
                agent="tester",
                role="verifier/tester",
                system_prompt=f"{role_marker('verifier/tester')}\n\nCheck it.",
                model=None,
                cwd=checkout.path,
                max_turns=3,
                idle_timeout_s=20,
                timeout_s=60,
            )

            async def play(session=session, checkout=checkout, early=early):
                if early:
                    await session.start()
                checkout.check_out(sha)
                try:
                    return await session.query("Check the commit.")
                finally:
                    await session.close()

            assert asyncio.run(play()).text == "ok"
            body = server.request_bodies[0]
            sent.append((body["system"], body["messages"]))
            checkout.remove()
    assert sent[0] == sent[1]
    assert "MARKER-7" not in str(sent[0])


@pytest.mark.e2e
def test_exit_statuses_come_from_what_the_cli_reported(tmp_path: Path) -> None:
    steps = [
        bash("true"),
        bash("echo out; echo err >&2; exit 3"),
        bash("false"),
        bash("echo 'Exit code 7'; exit 2"),  # output cannot forge the status line
        bash("grep -q needle /dev/null"),  # exit 1, but the CLI calls it "No matches found", not an error
        say("checked"),
    ]

    async def scenario(server: ScriptedModelServer) -> None:
        session = open_session(server, tmp_path)
        try:
            result = await session.query("Run the checks")
        finally:
            await session.close()
        calls = result.tool_calls
        assert [c.exit_code for c in calls] == [0, 3, 1, 2, None]
        assert [c.is_error for c in calls] == [False, True, True, True, False]
        assert "out" in calls[1].output and "err" in calls[1].output

    with serve(*steps) as server:
        asyncio.run(scenario(server))


@pytest.mark.e2e
def test_two_queries_share_one_process_and_one_conversation(tmp_path: Path) -> None:
    async def scenario(server: ScriptedModelServer) -> None:
        session = open_session(server, tmp_path)
        try:
            first = await session.query("Remember the word kiwi.")
            pid = session.pid
            second = await session.query("Which word?")
            assert session.pid == pid is not None
        finally:
            await session.close()
        assert (first.text, second.text) == ("Noted.", "kiwi")
        assert first.session_id == second.session_id
        # the CLI reports cost per conversation; each result is charged only for its own query
        assert second.cost_usd == pytest.approx(first.cost_usd, rel=0.2)
        assert_gone(pid)

    same_usage = {"usage": {"input_tokens": 100, "output_tokens": 10}}
    with serve(say("Noted.", **same_usage), say("kiwi", **same_usage)) as server:
        asyncio.run(scenario(server))
        assert "kiwi" in user_texts(role_bodies(server)[-1])


@pytest.mark.e2e
def test_a_new_session_object_resumes_the_conversation_by_id(tmp_path: Path) -> None:
    async def scenario(server: ScriptedModelServer) -> None:
        first_session = open_session(server, tmp_path)
        try:
            first = await first_session.query("Remember the word kiwi.")
            first_pid = first_session.pid
        finally:
            await first_session.close()
        assert_gone(first_pid)
        resumed_session = open_session(server, tmp_path, resume=first.session_id)
        try:
            resumed = await resumed_session.query("Which word?")
            assert resumed_session.pid != first_pid
        finally:
            await resumed_session.close()
        assert not resumed.is_error, resumed.error
        assert (resumed.text, resumed.session_id) == ("kiwi", first.session_id)
        # the resumed CLI restores the conversation's total cost; the result is charged for its query only
        assert resumed.cost_usd == pytest.approx(first.cost_usd, rel=0.2)

    same_usage = {"usage": {"input_tokens": 100, "output_tokens": 10}}
    with serve(say("Noted.", **same_usage), say("kiwi", **same_usage)) as server:
        asyncio.run(scenario(server))
        resumed_request = role_bodies(server)[-1]
        assert "Remember the word kiwi." in user_texts(resumed_request)
        assert "Noted." in str(resumed_request["messages"])


@pytest.mark.e2e
def test_turn_limit_cuts_a_tool_loop_off(tmp_path: Path) -> None:
    async def scenario(server: ScriptedModelServer) -> None:
        session = open_session(server, tmp_path, max_turns=3)
        try:
            result = await session.query("Loop forever")
        finally:
            await session.close()
        assert (result.is_error, result.error, result.turns) == (True, "turn limit 3 reached", 3)

    with serve(bash("echo again", repeat=10)) as server:
        asyncio.run(scenario(server))
        assert server.served(ROLE) == 3


@pytest.mark.e2e
def test_turn_limit_holds_even_when_the_cli_does_not_enforce_one(tmp_path: Path) -> None:
    log = tmp_path / "worktree" / "count.txt"

    async def scenario(server: ScriptedModelServer) -> None:
        session = open_session(server, tmp_path, max_turns=2, cli_enforces_max_turns=False)
        try:
            result = await session.query("Loop forever")
            pid = session.pid
            after = await session.query("Stop now.")
            assert session.pid == pid  # the limit ended the turn, not the process
        finally:
            await session.close()
        assert (result.is_error, result.error) == (True, "turn limit 2 reached")
        assert result.tool_calls[-1].is_error  # the third turn's tool was refused, not run
        assert not after.is_error and after.text == "Stopped."

    with serve(bash("echo again >> count.txt", repeat=3), say("Stopped.")) as server:
        asyncio.run(scenario(server))
        assert server.served(ROLE) == 4  # 2 turns, the third (refused), then the next query's answer
    assert log.read_text().splitlines() == ["again", "again"]


@pytest.mark.e2e
def test_idle_timeout_ends_the_process_and_the_session_resumes(tmp_path: Path) -> None:
    async def scenario(server: ScriptedModelServer) -> None:
        # the idle limit leaves a loaded machine time for a cold start and a tool; the stall outlasts it
        session = open_session(server, tmp_path, idle_timeout_s=4)
        try:
            first = await session.query("Say hello")
            pid = session.pid
            started = time.monotonic()
            stalled = await session.query("Think hard")
            assert time.monotonic() - started < 12
            assert session.pid is None
            assert_gone(pid)
            again = await session.query("Still there?")
            assert session.pid not in (None, pid)
        finally:
            await session.close()
        assert not first.is_error
        assert stalled.is_error and stalled.error.startswith("idle timeout")
        assert not again.is_error and again.text == "back"
        assert again.session_id == first.session_id

    with serve(say("hello"), say("too late", delay_s=15), say("back")) as server:
        asyncio.run(scenario(server))
        assert "Say hello" in user_texts(role_bodies(server)[-1])  # the resumed process kept the history


@pytest.mark.e2e
def test_idle_timeout_during_a_long_command_leaves_no_process_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "worktree" / "sleeper.pid"
    sleeper = "python3 -c \"import os, time; open('sleeper.pid', 'w').write(str(os.getpid())); time.sleep(60)\""

    async def scenario(server: ScriptedModelServer) -> None:
        # long enough for a loaded machine to start the command (it writes its pid first), far below its sleep
        session = open_session(server, tmp_path, idle_timeout_s=5)
        try:
            await session.query("Say hello")
            cli = session.pid
            result = await session.query("Wait for it")
        finally:
            await session.close()
        assert result.is_error and result.error.startswith("idle timeout")
        assert_gone(cli)
        assert_gone(int(pid_file.read_text()))

    with serve(say("hello"), bash(sleeper)) as server:
        asyncio.run(scenario(server))


@pytest.mark.e2e
def test_a_query_cancelled_by_its_caller_does_not_leak_into_the_next(tmp_path: Path) -> None:
    async def scenario(server: ScriptedModelServer) -> None:
        session = open_session(server, tmp_path)
        try:
            await session.query("Say hello")
            pid = session.pid
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(session.query("Think slowly"), 1.0)
            after = await session.query("Now answer")
            assert session.pid != pid
            assert_gone(pid)
        finally:
            await session.close()
        assert (after.is_error, after.text) == (False, "fresh")

    with serve(say("hello"), say("stale", delay_s=2), say("fresh")) as server:
        asyncio.run(scenario(server))


@pytest.mark.e2e
def test_hard_timeout_ends_a_busy_query_and_the_process(tmp_path: Path) -> None:
    async def scenario(server: ScriptedModelServer) -> None:
        # the hard limit comes first whatever the load: no step can make the idle one (8 s) come sooner
        session = open_session(server, tmp_path, idle_timeout_s=8, timeout_s=5)
        try:
            await session.query("Are you there?")
            pid = session.pid
            started = time.monotonic()
            result = await session.query("Keep busy")
            elapsed = time.monotonic() - started
        finally:
            await session.close()
        assert result.is_error and result.error.startswith("hard timeout")
        assert 5 <= elapsed < 15
        assert result.tool_calls and result.tool_calls[0].exit_code == 0  # what it did before is kept
        assert_gone(pid)

    # every answer comes within the idle timeout, but they never stop
    with serve(say("yes"), bash("echo busy", delay_s=0.7, repeat=20)) as server:
        asyncio.run(scenario(server))


@pytest.mark.e2e
def test_a_cli_that_dies_mid_query_is_an_agent_error_and_the_session_resumes(tmp_path: Path) -> None:
    async def scenario(server: ScriptedModelServer) -> None:
        session = open_session(server, tmp_path)
        try:
            await session.query("Say hello")
            pid = session.pid
            with pytest.raises(AgentError, match="exited with exit code -9 in the middle of a query"):
                await session.query("Crash")
            assert_gone(pid)
            again = await session.query("Still there?")
        finally:
            await session.close()
        assert again.text == "back"

    # the Bash tool's shell is a child of the CLI, so $PPID is the CLI itself
    with serve(say("hello"), bash("kill -9 $PPID"), say("back")) as server:
        asyncio.run(scenario(server))
        assert "Say hello" in user_texts(role_bodies(server)[-1])


@pytest.mark.e2e
def test_secrets_in_the_environment_do_not_reach_the_agent(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_secret123")
    monkeypatch.setenv("KODO_ORCHESTRATOR_API_KEY", "sk-secret")

    async def scenario(server: ScriptedModelServer) -> None:
        session = open_session(server, tmp_path)
        try:
            result = await session.query("Dump the environment")
        finally:
            await session.close()
        assert result.tool_calls[0].exit_code == 0

    with serve(bash("env > env.txt"), say("dumped")) as server:
        asyncio.run(scenario(server))
    dumped = (tmp_path / "worktree" / "env.txt").read_text()
    assert "ANTHROPIC_BASE_URL=http://127.0.0.1" in dumped  # it really is the agent's environment
    assert "ghs_secret123" not in dumped
    assert "sk-secret" not in dumped


@pytest.mark.e2e
def test_model_api_errors_end_the_query_as_error_results(tmp_path: Path) -> None:
    async def scenario(server: ScriptedModelServer) -> None:
        session = open_session(server, tmp_path, extra_env={"CLAUDE_CODE_MAX_RETRIES": "1"})
        try:
            overloaded = await session.query("Try")
            refused = await session.query("Try again")
        finally:
            await session.close()
        assert overloaded.is_error and "the model API failed (HTTP 529)" in overloaded.error
        assert refused.is_error and "refused the credential (HTTP 401)" in refused.error

    server_error = {"error": {"status": 529, "type": "overloaded_error", "message": "busy", "retry_after": 0}}
    auth_error = {"error": {"status": 401, "type": "authentication_error", "message": "invalid x-api-key"}}
    # CLAUDE_CODE_MAX_RETRIES=1: the CLI asks twice before giving up, even on a 401
    with serve(server_error, server_error, {**auth_error, "repeat": 2}) as server:
        asyncio.run(scenario(server))
        server.assert_complete()


# --- without running the CLI --------------------------------------------------------------------------


def test_a_missing_or_unexecutable_cli_is_an_agent_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-claude"
    script = tmp_path / "claude"
    script.write_text("#!/bin/sh\n")
    script.chmod(script.stat().st_mode & ~(stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    for path, words in ((missing, "does not exist"), (script, "is not executable")):
        factory = ClaudeSessionFactory(state_dir=tmp_path / "state", cli_path=path)
        assert words in factory.available("claude_code")
        with pytest.raises(AgentError, match=words) as caught:
            factory.open(
                agent="w",
                role="w",
                system_prompt="kodo-role: w",
                model=None,
                cwd=tmp_path,
                max_turns=3,
                idle_timeout_s=5,
                timeout_s=10,
            )
        assert "cli_path" in caught.value.hint
    assert ClaudeSessionFactory(state_dir=tmp_path / "state").available("claude_code") is None
    assert "no agent backend called 'codex'" in ClaudeSessionFactory(state_dir=tmp_path).available("codex")


def test_resuming_a_session_that_left_no_transcript_is_an_agent_error(tmp_path: Path) -> None:
    session = ClaudeSession(
        agent="w",
        system_prompt="kodo-role: w",
        cwd=tmp_path,
        state_dir=tmp_path / "state",
        resume="3fd531b5-63fb-491c-a607-e3ad28ed5956",
    )
    with pytest.raises(AgentError, match="no transcript"):
        asyncio.run(session.query("hello"))


def test_agent_environment_scrubs_secrets_and_keeps_what_the_cli_needs(tmp_path: Path) -> None:
    parent = {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "GITHUB_TOKEN": "ghs_1",
        "GH_TOKEN": "gho_2",
        "GITHUB_PAT_CI": "github_pat_3",
        "ACTIONS_RUNTIME_TOKEN": "rt",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "idt",
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://token.actions",
        "ACTIONS_RUNTIME_URL": "https://runtime",
        "KODO_ORCHESTRATOR_API_KEY": "sk-orch",
        "KODO_WEBHOOK_SECRET": "whsec",
        "NPM_TOKEN": "npm",
        "DB_PASSWORD": "pw",
        "OPENAI_API_KEY": "sk-oai",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "SSH_AUTH_SOCK": "/tmp/ssh-agent",
        "ANTHROPIC_API_KEY": "sk-ant",
        "ANTHROPIC_AUTH_TOKEN": "bearer",
        "CLAUDE_CODE_OAUTH_TOKEN": "oauth",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "CLAUDE_CODE_MAX_OUTPUT_TOKENS": "4096",
    }
    env = agent_environment(parent, state_dir=tmp_path, extra={"API_TIMEOUT_MS": "1000"}, as_root=False)
    scrubbed = {name for name, value in env.items() if value == "" and name in parent}
    assert scrubbed - {"ANTHROPIC_API_KEY"} == {
        "GITHUB_TOKEN",
        "GH_TOKEN",
        "GITHUB_PAT_CI",
        "ACTIONS_RUNTIME_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_RUNTIME_URL",
        "KODO_ORCHESTRATOR_API_KEY",
        "KODO_WEBHOOK_SECRET",
        "NPM_TOKEN",
        "DB_PASSWORD",
        "OPENAI_API_KEY",
        "AWS_SECRET_ACCESS_KEY",
        "SSH_AUTH_SOCK",
    }
    for kept in ("ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        assert env[kept] == parent[kept]
    # beside a subscription token the API key is left out: the CLI would use the key first, billed per token
    assert env["ANTHROPIC_API_KEY"] == ""
    assert "PATH" not in env and "CLAUDE_CODE_MAX_OUTPUT_TOKENS" not in env  # inherited untouched
    assert env["CLAUDE_CONFIG_DIR"].startswith(str(tmp_path)) and env["CLAUDE_CODE_TMPDIR"].startswith(str(tmp_path))
    for quiet in (
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
        "DISABLE_TELEMETRY",
        "DISABLE_AUTOUPDATER",
        "DISABLE_ERROR_REPORTING",
    ):
        assert env[quiet] == "1"
    assert "IS_SANDBOX" not in env and env["API_TIMEOUT_MS"] == "1000"


def test_who_pays_for_a_claude_agent_follows_the_credential_it_runs_on(tmp_path: Path) -> None:
    on_key = agent_environment({"ANTHROPIC_API_KEY": "sk-key"}, state_dir=tmp_path)
    on_plan = agent_environment({"CLAUDE_CODE_OAUTH_TOKEN": "oat"}, state_dir=tmp_path)
    both = agent_environment({"ANTHROPIC_API_KEY": "sk-key", "CLAUDE_CODE_OAUTH_TOKEN": "oat"}, state_dir=tmp_path)
    gateway = agent_environment({"ANTHROPIC_AUTH_TOKEN": "bearer"}, state_dir=tmp_path)
    billed = [claude_billing(e) for e in (on_key, on_plan, both, gateway)]
    assert billed == ["api", "subscription", "subscription", "api"]


def test_agent_environment_as_root_and_extra_wins(tmp_path: Path) -> None:
    env = agent_environment(
        {"ANTHROPIC_API_KEY": "real"},
        state_dir=tmp_path,
        extra={"ANTHROPIC_API_KEY": "scripted", "GITHUB_TOKEN": "deliberate"},
        as_root=True,
    )
    assert (env["IS_SANDBOX"], env["ANTHROPIC_API_KEY"], env["GITHUB_TOKEN"]) == ("1", "scripted", "deliberate")
    assert agent_environment({}, state_dir=tmp_path).get("IS_SANDBOX") == ("1" if os.geteuid() == 0 else None)


def test_secret_names() -> None:
    for name in (
        "GITHUB_TOKEN",
        "gh_token",
        "MY_SECRET",
        "X_SECRETS",
        "PGPASSWORD",
        "SERVICE_API_KEY",
        "STRIPE_APIKEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "KODO_ANYTHING",
        "GITHUB_PAT",
    ):
        assert is_secret_name(name), name
    for name in (
        "PATH",
        "PYTHONPATH",
        "TOKENIZERS_PARALLELISM",
        "MAX_TOKENS",
        "KEYBOARD",
        "ANTHROPIC_API_KEY",
        "CLAUDE_CODE_OAUTH_TOKEN",
        "HOME",
    ):
        assert not is_secret_name(name), name


def test_bash_exit_code_rule() -> None:
    ok = {"stdout": "hi", "stderr": "", "interrupted": False}
    assert bash_exit_code(is_error=False, output="hi", raw=ok) == 0
    assert bash_exit_code(is_error=True, output="Exit code 3\nout", raw="Error: Exit code 3\nout") == 3
    assert bash_exit_code(is_error=True, output="Exit code 2\nExit code 7", raw=None) == 2
    assert bash_exit_code(is_error=True, output="<tool_use_error>Blocked</tool_use_error>", raw=None) is None
    assert bash_exit_code(is_error=False, output="", raw={**ok, "returnCodeInterpretation": "No matches"}) is None
    assert bash_exit_code(is_error=False, output="", raw={**ok, "backgroundTaskId": "b1"}) is None
    assert bash_exit_code(is_error=False, output="", raw={**ok, "interrupted": True}) is None


def turn(message_id: str, *tool_ids: str) -> AssistantMessage:
    return AssistantMessage(
        content=[ToolUseBlock(id=t, name="Bash", input={"command": "true"}) for t in tool_ids],
        model="scripted",
        message_id=message_id,
    )


def test_the_tool_gate_refuses_tools_past_the_turn_limit_and_records_the_watch() -> None:
    run = QueryProgress(limit=1)
    answers = iter(["before-1", "after-1", "before-2"])
    hooks = ToolHooks(lambda: run, watch=lambda: next(answers))

    async def scenario() -> tuple[dict, dict, dict]:
        run.observe(turn("m1", "t1"))
        allowed = await hooks.before_tool({}, "t1", None)
        after = await hooks.after_tool({}, "t1", None)
        run.observe(turn("m2", "t2"))
        return allowed, after, await hooks.before_tool({}, "t2", None)

    allowed, after, refused = asyncio.run(scenario())
    assert allowed == after == {}
    assert refused["continue_"] is False and refused["hookSpecificOutput"]["permissionDecision"] == "deny"
    assert "turn limit 1 reached" in refused["stopReason"]
    assert (run.checkout_before, run.checkout_after) == ({"t1": "before-1", "t2": "before-2"}, {"t1": "after-1"})
    assert set(ToolHooks(lambda: None, None).matchers()) == {"PreToolUse", "PostToolUse", "PostToolUseFailure"}
    assert asyncio.run(ToolHooks(lambda: None, None).before_tool({}, "t1", None)) == {}  # between queries


def test_sdk_options_resume_or_start_the_id_and_keep_the_cli_credential_out_of_results(tmp_path: Path) -> None:
    spec = LaunchSpec(
        agent="w",
        system_prompt="kodo-role: w",
        cwd=tmp_path / "co",
        state_dir=tmp_path / "state",
        model=None,
        cli_max_turns=None,
        cli_path=None,
        parent_env={"ANTHROPIC_API_KEY": "sk-cli"},
        env={"API_TIMEOUT_MS": "1000"},
        confinement=None,
        isolated=True,
    )
    new = sdk_options(spec, session_id="s1", resume=False, hooks={})
    resumed = sdk_options(spec, session_id="s1", resume=True, hooks={})
    assert (new.session_id, new.resume, resumed.session_id, resumed.resume) == ("s1", None, None, "s1")
    assert new.setting_sources == [] and new.max_turns is None
    assert new.env["GIT_CEILING_DIRECTORIES"] == str(tmp_path.resolve())
    assert new.env["API_TIMEOUT_MS"] == "1000" and cli_credentials(new.env) == ("sk-cli",)


def test_the_conversation_charges_each_query_for_itself_and_announces_each_id_once(tmp_path: Path) -> None:
    announced: list[str] = []
    conversation = Conversation(tmp_path, agent="w", resume=None, on_id=announced.append)
    session_id, resume = conversation.prepare_process()
    assert not resume and conversation.id == session_id
    conversation.process_started()
    conversation.note(SystemMessage(subtype="init", data={"session_id": session_id}))
    conversation.note(
        ResultMessage(
            subtype="success",
            duration_ms=1,
            duration_api_ms=1,
            is_error=False,
            num_turns=1,
            session_id="picked-by-the-cli",
        )
    )
    assert announced == [session_id, "picked-by-the-cli"] and conversation.id == "picked-by-the-cli"
    costs = [
        conversation.charge(
            ResultMessage(
                subtype="success",
                duration_ms=1,
                duration_api_ms=1,
                is_error=False,
                num_turns=1,
                session_id="x",
                total_cost_usd=total,
            )
        )
        for total in (0.25, 0.75, None)
    ]
    assert costs == [0.25, 0.5, 0.0]


def test_a_failing_session_id_listener_does_not_take_the_session_down(tmp_path: Path) -> None:
    def listener(session_id: str) -> None:
        raise RuntimeError("checkpoint failed")

    conversation = Conversation(tmp_path, agent="w", resume=None, on_id=listener)
    conversation.prepare_process()
    conversation.process_started()  # logged, not raised


def test_the_transcript_is_masked_as_it_grows_a_line_written_in_two_parts_included(tmp_path: Path) -> None:
    """Each mask reads only what was appended since the last; a line still being written when one ran (a
    credential cut in two) is masked whole by the next."""
    key = "sk-cli-credential-0123456789"
    conversation = Conversation(tmp_path, agent="w", resume=None, on_id=None)
    session_id, _ = conversation.prepare_process()
    path = transcript_path(tmp_path, session_id)
    path.write_text(f'{{"env": "{key}"}}\n{{"text": "half of sk-cli-cred')
    conversation.mask_transcript((key,))
    with path.open("a") as fh:  # the CLI appends to the file it has open
        fh.write('ential-0123456789"}\n{"text": "ok"}\n')
    conversation.mask_transcript((key,))
    with path.open("a") as fh:
        fh.write(f'{{"later": "{key}"}}\n')
    conversation.mask_transcript((key,))

    lines = path.read_text().splitlines()
    assert key not in path.read_text() and len(lines) == 4
    assert lines == [
        '{"env": "[redacted]"}',
        '{"text": "half of [redacted]"}',
        '{"text": "ok"}',
        '{"later": "[redacted]"}',
    ]


def transcript_path(state_dir: Path, session_id: str) -> Path:
    """Where the CLI keeps a session's transcript (``_claude_stream.transcript`` finds it there)."""
    folder = state_dir / "claude-config" / "projects" / "-worktree"
    folder.mkdir(parents=True)
    return folder / f"{session_id}.jsonl"
