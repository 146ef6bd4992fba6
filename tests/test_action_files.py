"""action.yml and the workflows: valid for GitHub's schemas and actionlint, and saying what we mean.

The validators run as subprocesses from this venv's bin directory, with every proxy variable pointing at a
closed port: check-jsonschema's GitHub schemas are vendored in the package and actionlint is a static
binary, so both must work without a network. Schema validity alone is weak (the workflow schema accepts a
misspelt event type such as ``labelled``), so the second half of this file checks the meaning directly.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
CI = ROOT / ".github" / "workflows" / "ci.yml"
TEMPLATE = ROOT / "examples" / "workflows" / "kodo.yml"
BIN = Path(sys.executable).parent
DEAD_PROXY = "http://127.0.0.1:9"
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")

#: input name -> the environment variable `kodo-bot action` reads it from
INPUT_ENV = {
    "github-token": "GITHUB_TOKEN",
    "label": "KODO_LABEL",
    "config-file": "KODO_CONFIG_FILE",
    "orchestrator-model": "KODO_ORCHESTRATOR_MODEL",
    "team": "KODO_TEAM",
    "max-cycles": "KODO_MAX_CYCLES",
    "max-cost-usd": "KODO_MAX_COST_USD",
    "timeout-minutes": "KODO_MAX_MINUTES",
    "anthropic-api-key": "KODO_ORCHESTRATOR_API_KEY",
    "claude-code-oauth-token": "CLAUDE_CODE_OAUTH_TOKEN",
}
RUNS_DIR = "${{ runner.temp }}/kodo-runs"


def _offline_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy",)}
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env[name] = DEAD_PROXY
    return env


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}; install the test extras: pip install -e '.[test]'")
    return str(path)


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=_offline_env(), cwd=cwd, timeout=120
    )


def _yaml(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


# -- the validators --------------------------------------------------------------------------------------


def test_action_yml_matches_githubs_schema_offline():
    result = _run(_tool("check-jsonschema"), "--no-cache", "--builtin-schema", "vendor.github-actions", ACTION)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", [CI, TEMPLATE], ids=["ci", "template"])
def test_workflows_match_githubs_schema_offline(workflow: Path):
    result = _run(_tool("check-jsonschema"), "--no-cache", "--builtin-schema", "vendor.github-workflows", workflow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_is_not_vacuous(tmp_path: Path):
    broken = tmp_path / "action.yml"
    broken.write_text(ACTION.read_text().replace("using: composite", "using: compost"))
    result = _run(_tool("check-jsonschema"), "--no-cache", "--builtin-schema", "vendor.github-actions", broken)
    assert result.returncode == 1 and "compost" in result.stdout + result.stderr


@pytest.fixture
def actionlint_config(tmp_path: Path) -> Path:
    config = tmp_path / "actionlint.yaml"
    config.write_text("self-hosted-runner:\n  labels: [kodo]\n")
    return config


def test_actionlint_accepts_both_workflows(actionlint_config: Path):
    result = _run(_tool("actionlint"), "-config-file", actionlint_config, CI, TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_knows_the_runner_label_only_from_the_config(actionlint_config: Path, tmp_path: Path):
    result = _run(_tool("actionlint"), "-config-file", actionlint_config, TEMPLATE)
    assert result.returncode == 0
    bare = tmp_path / "empty"
    bare.mkdir()
    result = _run(_tool("actionlint"), TEMPLATE, cwd=bare)
    assert result.returncode == 1 and 'label "kodo" is unknown' in result.stdout


def test_the_template_passes_only_inputs_the_action_declares(actionlint_config: Path, tmp_path: Path):
    # actionlint checks `with:` against a local action's action.yml, so use the action by path "./".
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ACTION, repo / "action.yml")
    text = TEMPLATE.read_text()
    assert "uses: OWNER/kodo-bot@v0" in text
    (repo / ".github" / "workflows" / "kodo.yml").write_text(text.replace("OWNER/kodo-bot@v0", "./"))
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    result = _run(_tool("actionlint"), "-config-file", actionlint_config, cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    # ... and it would notice a misspelt input
    wf = repo / ".github" / "workflows" / "kodo.yml"
    wf.write_text(wf.read_text().replace("timeout-minutes: \"100\"", "timeout-minutez: \"100\""))
    result = _run(_tool("actionlint"), "-config-file", actionlint_config, cwd=repo)
    assert result.returncode == 1 and "timeout-minutez" in result.stdout


# -- what the files say ----------------------------------------------------------------------------------


def _steps() -> list[dict]:
    return _yaml(ACTION)["runs"]["steps"]


def _run_step() -> dict:
    return next(s for s in _steps() if s.get("id") == "run")


def test_action_inputs_outputs_and_environment():
    action = _yaml(ACTION)
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) == set(INPUT_ENV)
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert action["inputs"]["config-file"]["default"] == ".github/kodo.yml"
    assert {name: o["value"] for name, o in action["outputs"].items()} == {
        name: f"${{{{ steps.run.outputs.{name} }}}}" for name in ("run-id", "outcome", "pr-number")
    }
    env = _run_step()["env"]
    for name, var in INPUT_ENV.items():
        assert env[var] == f"${{{{ inputs.{name} }}}}", var
    assert env["KODO_RUNS_DIR"] == RUNS_DIR
    assert "kodo-bot\" action" in _run_step()["run"]
    # the names are documented where users read them
    header = ACTION.read_text().split("\nname:", 1)[0]
    for var in [*INPUT_ENV.values(), "KODO_RUNS_DIR"]:
        assert var in header


def test_action_installs_its_own_checkout_into_a_venv_in_the_runner_temp_dir():
    install = next(s for s in _steps() if s.get("name") == "Install kodo-bot")
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert install["env"]["VENV"].startswith("${{ runner.temp }}/")
    assert 'python3 -m venv "$VENV"' in install["run"] and 'install' in install["run"]
    setup = next(s for s in _steps() if "setup-python" in s.get("uses", ""))
    assert setup["if"] == "steps.python.outputs.found != 'true'"  # only when the runner has no python3


def test_action_uploads_the_run_log_always_with_a_pinned_action():
    upload = next(s for s in _steps() if "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()" and upload["with"]["path"] == RUNS_DIR
    assert re.search(r"actions/upload-artifact@[0-9a-f]{40} # v4\.\d+\.\d+", ACTION.read_text())


@pytest.mark.parametrize("path", [ACTION, CI], ids=["action", "ci"])
def test_third_party_actions_are_pinned_to_full_commit_shas(path: Path):
    uses = re.findall(r"uses:\s*(\S+)", path.read_text())
    assert uses
    for ref in uses:
        assert SHA_PIN.match(ref), ref


def test_no_input_is_spliced_into_a_shell_script():
    for step in _steps():
        assert "${{" not in step.get("run", ""), step.get("name")


def test_template_triggers_permissions_concurrency_and_runner():
    wf = _yaml(TEMPLATE)
    assert wf["on"] == {"issues": {"types": ["labeled"]}}
    assert wf["permissions"] == {
        "contents": "write", "issues": "write", "pull-requests": "write", "statuses": "write"}
    assert wf["concurrency"] == {
        "group": "kodo-issue-${{ github.event.issue.number }}", "cancel-in-progress": False}
    (job,) = wf["jobs"].values()
    assert job["runs-on"] == ["self-hosted", "kodo"]
    assert job["if"] == "github.event.label.name == 'kodo'"
    (step,) = job["steps"]
    assert step["uses"] == "OWNER/kodo-bot@v0"
    # the run's own budget ends before the job's hard limit, so the run reports its outcome itself
    assert int(step["with"]["timeout-minutes"]) < job["timeout-minutes"]
    assert set(step["with"]) <= set(INPUT_ENV)


def test_ci_runs_the_projects_own_script_on_python_311():
    wf = _yaml(CI)
    (job,) = wf["jobs"].values()
    assert wf["permissions"] == {"contents": "read"}
    setup = next(s for s in job["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"]["python-version"] == "3.11"
    assert job["steps"][-1]["run"] == "bash .ci/run"
