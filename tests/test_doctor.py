"""`kodo-bot doctor`: one line per check with the fix, --json, --offline, the exit status, and the GitHub
token probed against the emulator (kind, permissions, whether its pushes start workflows) without ever
printing a secret or creating anything."""

from __future__ import annotations

import json
import os

from kodo_bot.cli import main
from kodo_bot.sandbox.model_server import ScriptedModelServer
from tests.github_support import JOB_PERMISSIONS, REPO, make_scene

SECRET = "sk-ant-doctor-secret-0123456789"


def _env(tmp_path, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TZ")}
    return {**keep, "HOME": str(tmp_path / "home"), "KODO_WORK_DIR": str(tmp_path / "work"), **extra}


def _checks(out: str) -> dict[str, dict]:
    return {c["name"]: c for c in json.loads(out)["checks"]}


def test_offline_with_credentials_is_ready_and_prints_no_secret(tmp_path, capsys):
    env = _env(tmp_path, CLAUDE_CODE_OAUTH_TOKEN=SECRET)
    assert main(["doctor", "--offline"], env=env) == 0
    out = capsys.readouterr().out
    assert "✓ python" in out and "✓ git" in out and "✓ Claude Code CLI" in out
    assert "CLAUDE_CODE_OAUTH_TOKEN set (value not shown)" in out
    assert "not checked (--offline)" in out and "ready for a run" in out
    assert SECRET not in out


def test_missing_agent_credentials_fail_with_the_fix_and_a_non_zero_exit(tmp_path, capsys):
    assert main(["doctor", "--offline", "--json"], env=_env(tmp_path)) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ready"] is False
    cred = {c["name"]: c for c in result["checks"]}["agents' credentials"]
    assert cred["status"] == "fail" and "claude setup-token" in cred["fix"]
    assert main(["doctor", "--offline"], env=_env(tmp_path)) == 1
    out = capsys.readouterr().out
    assert "✗ agents' credentials" in out and "fix: run `claude setup-token`" in out
    assert "not ready: agents' credentials" in out


def test_the_model_is_asked_once_with_the_orchestrators_key(tmp_path, capsys):
    with ScriptedModelServer({"roles": {}}) as server:
        env = _env(
            tmp_path, CLAUDE_CODE_OAUTH_TOKEN=SECRET, KODO_ORCHESTRATOR_API_KEY=SECRET, ANTHROPIC_BASE_URL=server.url
        )
        assert main(["doctor", "--json"], env=env) == 0
        model = _checks(capsys.readouterr().out)["orchestrator model"]
    assert model["status"] == "ok" and "KODO_ORCHESTRATOR_API_KEY" in model["detail"] and SECRET not in model["detail"]
    dead = _env(
        tmp_path, CLAUDE_CODE_OAUTH_TOKEN=SECRET, ANTHROPIC_API_KEY=SECRET, ANTHROPIC_BASE_URL="http://127.0.0.1:9"
    )
    assert main(["doctor", "--json"], env=dead) == 1
    model = _checks(capsys.readouterr().out)["orchestrator model"]
    assert model["status"] == "fail" and "did not answer" in model["detail"]


def test_the_github_token_is_probed_for_each_permission_it_needs(tmp_path, capsys):
    scene = make_scene(tmp_path, {"README.md": "# app\n"})
    try:
        args = ["doctor", "--offline", "--json", "--repo", REPO, "--api-url", scene.emu.api_url]
        env = _env(tmp_path, CLAUDE_CODE_OAUTH_TOKEN=SECRET)
        # the workflow's own token, inside a job
        assert main(args, env={**env, "GITHUB_TOKEN": scene.token, "KODO_WORKFLOW_TOKEN": "true"}) == 0
        token = _checks(capsys.readouterr().out)["GitHub token"]
        assert token["status"] == "ok"
        assert "workflow token" in token["detail"] and "start NO workflow" in token["detail"]

        no_statuses = {k: v for k, v in JOB_PERMISSIONS.items() if k != "statuses"}
        app = scene.emu.add_token("kodo-app[bot]", permissions=no_statuses)
        assert main(args, env={**env, "GITHUB_TOKEN": app}) == 1
        out = capsys.readouterr().out
        token = _checks(out)["GitHub token"]
        assert token["status"] == "fail" and "missing: statuses: write" in token["detail"]
        assert "app token" in token["detail"] and "start workflows" in token["detail"]
        assert token["fix"] == "grant the token statuses: write"
        assert scene.token not in out and app not in out
        # the write probes were refused or invalid: nothing was created
        assert scene.emu.pulls(REPO) == [] and set(scene.emu.branches(REPO)) == {"main"}
        assert {c.status for c in scene.emu.calls_matching("POST")} <= {403, 422}
        stranger = scene.emu.add_token("stranger", permissions={"issues": "write"}, repos=["octo/other"])
        assert main(args, env={**env, "GITHUB_TOKEN": stranger}) == 1
        token = _checks(capsys.readouterr().out)["GitHub token"]
        assert token["status"] == "fail" and "cannot read octo/app" in token["detail"]
    finally:
        scene.emu.stop()


def test_the_model_check_follows_the_orchestrator_chosen(tmp_path, capsys):
    env = _env(tmp_path, CLAUDE_CODE_OAUTH_TOKEN=SECRET)
    assert main(["doctor", "--json", "--orchestrator", "claude-code:opus"], env=env) == 0
    model = _checks(capsys.readouterr().out)["orchestrator model"]
    assert model["status"] == "ok" and "no API key" in model["detail"]
    assert main(["doctor", "--json", "--orchestrator", "api:gemini"], env=env) == 1
    model = _checks(capsys.readouterr().out)["orchestrator model"]
    assert model["status"] == "fail" and "GOOGLE_API_KEY" in model["detail"]
    assert main(["doctor", "--json"], env={**env, "KODO_ORCHESTRATOR": "palm"}) == 1
    model = _checks(capsys.readouterr().out)["orchestrator model"]
    assert "unknown orchestrator 'palm'" in model["detail"] and "claude-code" in model["fix"]


def test_the_runner_with_the_kodo_label_is_looked_for_when_the_token_may_list_runners(tmp_path, capsys):
    scene = make_scene(tmp_path, {"README.md": "# app\n"})
    try:
        args = ["doctor", "--offline", "--json", "--repo", REPO, "--api-url", scene.emu.api_url]
        admin = scene.emu.add_token("ops-app[bot]", permissions={**JOB_PERMISSIONS, "administration": "read"})
        env = _env(tmp_path, CLAUDE_CODE_OAUTH_TOKEN=SECRET, GITHUB_TOKEN=admin)
        scene.emu.add_runner(REPO, "laptop")  # self-hosted, Linux, X64: not kodo
        main(args, env=env)
        runner = _checks(capsys.readouterr().out)["runner"]
        assert runner["status"] == "warn" and "no runner of octo/app has the label kodo" in runner["detail"]
        assert "--labels kodo" in runner["fix"] and "watch needs none" in runner["fix"]
        scene.emu.add_runner(REPO, "attic", ("self-hosted", "Linux", "kodo"), online=False)
        main(args, env=env)
        runner = _checks(capsys.readouterr().out)["runner"]
        assert runner["status"] == "warn" and "attic has the label kodo but is offline" in runner["detail"]
        scene.emu.add_runner(REPO, "server", ("self-hosted", "Linux", "kodo"))
        assert main(args, env=env) == 0
        assert _checks(capsys.readouterr().out)["runner"] == {
            "name": "runner",
            "status": "ok",
            "detail": "server (self-hosted, Linux, kodo) online",
            "fix": "",
            "required": True,
        }
        # kodo-bot's own token may not list runners (administration: read): said, not failed
        main(args, env={**env, "GITHUB_TOKEN": scene.token})
        runner = _checks(capsys.readouterr().out)["runner"]
        assert runner["status"] == "skip" and "administration: read" in runner["detail"]
        # inside a job, the runner names itself
        main(args, env={**env, "RUNNER_NAME": "ci-1", "KODO_RUNNER_LABELS": "self-hosted,linux"})
        runner = _checks(capsys.readouterr().out)["runner"]
        assert runner["status"] == "fail" and "not kodo" in runner["detail"]
        # the runners' answers match GitHub's description (the permission probes' bodies are invalid on purpose)
        validation = scene.emu.validation
        assert validation.checked["response actions/list-self-hosted-runners-for-repo"] == 3
        assert not [f for f in validation.failures if "runners" in str(f)] and validation.unmatched == []
    finally:
        scene.emu.stop()
