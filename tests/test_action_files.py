"""action.yml and the workflows: valid for GitHub's schemas and actionlint, and saying what we mean.

The validators run as subprocesses from this venv's bin directory, with every proxy variable pointing at a
closed port: check-jsonschema's GitHub schemas are vendored in the package and actionlint is a static
binary, so both must work without a network. Schema validity alone is weak (the workflow schema accepts a
misspelt event type such as ``labelled``), so the second half of this file checks the meaning directly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import github
import pytest
import yaml

from kodo_bot.sandbox.github_emulator import GitHubEmulator
from tests.emulator_support import EXAMPLES

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
    "orchestrator": "KODO_ORCHESTRATOR",
    "orchestrator-model": "KODO_ORCHESTRATOR_MODEL",
    "team": "KODO_TEAM",
    "max-cycles": "KODO_MAX_CYCLES",
    "max-cost-usd": "KODO_MAX_COST_USD",
    "timeout-minutes": "KODO_MAX_MINUTES",
    "anthropic-api-key": "KODO_ORCHESTRATOR_API_KEY",
    "gemini-api-key": "GOOGLE_API_KEY",
    "claude-code-oauth-token": "CLAUDE_CODE_OAUTH_TOKEN",
    "app-id": "KODO_APP_ID",
    "app-private-key": "KODO_APP_PRIVATE_KEY",
    # the action turns it into KODO_JOB_DEADLINE
    "job-timeout-minutes": "JOB_TIMEOUT_MINUTES",
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
    wf.write_text(wf.read_text().replace('timeout-minutes: "100"', 'timeout-minutez: "100"'))
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
    assert 'kodo-bot" action' in _run_step()["run"]
    # the names are documented where users read them
    header = ACTION.read_text().split("\nname:", 1)[0]
    for var in [
        *(v for v in INPUT_ENV.values() if v != "JOB_TIMEOUT_MINUTES"),
        "KODO_RUNS_DIR",
        "KODO_ARTIFACT",
        "KODO_WORK_DIR",
        "KODO_JOB_DEADLINE",
    ]:
        assert var in header


def test_action_installs_into_a_venv_cached_per_version_in_the_tool_cache():
    install = next(s for s in _steps() if s.get("name") == "Install kodo-bot")
    assert install["env"] == {"ACTION_PATH": "${{ github.action_path }}", "CACHE_ROOT": "${{ runner.tool_cache }}"}
    script = install["run"]
    # keyed on the action's own files, the lock and the Python version; reused when complete
    assert "requirements.lock" in script and "sha256sum" in script and '"$root/$key-py$py"' in script
    assert '[ -f "$venv/.complete" ]' in script and 'touch "$venv/.complete"' in script
    assert "--require-hashes" in script and '-r "$ACTION_PATH/requirements.lock"' in script
    assert 'install --quiet --disable-pip-version-check --no-deps "$ACTION_PATH"' in script
    assert "python3-venv" in script and "::error" in script
    find = next(s for s in _steps() if s.get("id") == "python")
    assert "import ensurepip, venv" in find["run"]  # Debian's python3 without python3-venv is not enough
    setup = next(s for s in _steps() if "setup-python" in s.get("uses", ""))
    assert setup["if"] == "steps.python.outputs.found != 'true'"  # only when the runner has none
    assert _run_step()["env"]["VENV"] == "${{ steps.install.outputs.venv }}"


def test_the_install_script_builds_once_and_reuses(tmp_path: Path):
    """The install step's own script, run three times against a small fake action: one venv, reused, and a
    new one when the action's files change."""
    action = tmp_path / "action"
    (action / "kodo_bot").mkdir(parents=True)
    (action / "kodo_bot" / "__init__.py").write_text("")
    (action / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (action / "requirements.lock").write_text("")
    script = next(s for s in _steps() if s.get("name") == "Install kodo-bot")["run"]
    # pip is not what is under test here: a stand-in records what it was asked to install
    script = 'stub_pip() { echo "pip install $*" >> "$venv/pip.log"; }\n' + script.replace(
        '"$venv/bin/python" -m pip install', "stub_pip"
    ).replace('"$venv/bin/kodo-bot" --version', "true").replace(
        'python3 -m venv "$venv"', 'python3 -m venv --without-pip "$venv"'
    )
    env = {
        **os.environ,
        "ACTION_PATH": str(action),
        "CACHE_ROOT": str(tmp_path / "cache"),
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(tmp_path / "out"),
    }

    def install() -> Path:
        done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        return Path((tmp_path / "out").read_text().strip().splitlines()[-1].split("=", 1)[1])

    first = install()
    assert (first / ".complete").exists() and (first / "bin" / "python").exists()
    assert install() == first and len((first / "pip.log").read_text().splitlines()) == 2  # built once
    (action / "kodo_bot" / "__init__.py").write_text("# a new release\n")
    second = install()
    assert second != first and second.parent == first.parent


def test_the_lock_pins_every_runtime_dependency_by_hash():
    """requirements.lock (pip-compile --generate-hashes, see its header) is what the action installs: it must
    cover pyproject's dependencies at versions they allow, and every pin must carry hashes."""
    from packaging.requirements import Requirement

    text = (ROOT / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9._-]+)==(\S+) \\$", text, flags=re.M))
    norm = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in pins.items()}
    entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n#\n", 2)[2].strip())
    assert all("--hash=sha256:" in e for e in entries) and len(entries) == len(pins)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for dep in map(Requirement, project["dependencies"]):
        name = re.sub(r"[-_.]+", "-", dep.name).lower()
        assert name in norm, f"{dep.name} is missing from requirements.lock: regenerate it"
        assert dep.specifier.contains(norm[name]), f"requirements.lock has {dep.name}=={norm[name]}, not {dep}"


def test_the_run_gets_its_own_work_dir_and_the_jobs_deadline():
    run = _run_step()["run"]
    assert 'KODO_WORK_DIR="$HOME/.kodo-bot/work/' in run and "RUNNER_NAME" in run
    assert 'if [ -z "${KODO_WORK_DIR:-}" ]' in run  # a workflow's own choice wins
    assert "KODO_JOB_DEADLINE" in run and _run_step()["env"]["JOB_STARTED"] == "${{ steps.python.outputs.started }}"


def test_action_uploads_the_run_log_always_with_a_pinned_action_except_on_ghes():
    upload = next(s for s in _steps() if "upload-artifact" in s.get("uses", ""))
    assert upload["if"].startswith("always() && ") and upload["with"]["path"] == RUNS_DIR
    assert "github.server_url == 'https://github.com'" in upload["if"]  # GHES has no artifact service for v4
    assert re.search(r"actions/upload-artifact@[0-9a-f]{40} # v4\.\d+\.\d+", ACTION.read_text())


def test_the_run_is_told_the_artifacts_name_exactly_where_it_is_uploaded():
    """The final comment names the artifact: the name must be the upload's, and given only where it runs."""
    upload = next(s for s in _steps() if "upload-artifact" in s.get("uses", ""))
    told = " ".join(_run_step()["env"]["KODO_ARTIFACT"].split())
    condition = upload["if"].removeprefix("always() && ")
    name = upload["with"]["name"]  # kodo-run-${{ github.run_id }}-${{ github.run_attempt }}
    expected = re.sub(r"\$\{\{ ([^}]+?) \}\}", "{}", name).format("{0}", "{1}")
    args = ", ".join(re.findall(r"\$\{\{ ([^}]+?) \}\}", name))
    assert told == f"${{{{ {condition} && format('{expected}', {args}) || '' }}}}"


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
    assert wf["on"] == {
        "issues": {"types": ["labeled"]},
        "issue_comment": {"types": ["created"]},
        "pull_request_review": {"types": ["submitted"]},
        "workflow_run": {"workflows": ["CI"], "types": ["completed"]},
        "check_suite": {"types": ["completed"]},
    }
    assert wf["permissions"] == {
        "contents": "write",
        "issues": "write",
        "pull-requests": "write",
        "statuses": "write",
        "actions": "read",
    }
    assert "concurrency" not in wf  # a workflow-wide group would queue every event of every issue
    route, job = wf["jobs"]["route"], wf["jobs"]["kodo"]
    assert job["needs"] == "route" and "concurrency" not in route
    assert job["concurrency"] == {"group": "kodo-issue-${{ needs.route.outputs.issue }}", "cancel-in-progress": False}
    assert route["runs-on"] == job["runs-on"] == ["self-hosted", "kodo"]
    for guard in (
        "github.event.label.name == 'kodo'",
        "'/kodo'",
        "github.event.review.state != 'approved'",
        "github.event.workflow_run.conclusion) &&",
        "startsWith(github.event.check_suite.head_branch",
    ):
        assert guard in route["if"]
    (step,) = job["steps"]
    assert step["uses"] == "OWNER/kodo-bot@v0"
    # the run's own budget ends before the job's hard limit, so the run reports its outcome itself
    assert int(step["with"]["timeout-minutes"]) < job["timeout-minutes"]
    assert int(step["with"]["job-timeout-minutes"]) == job["timeout-minutes"]
    assert "Allow GitHub Actions to create and approve pull requests" in TEMPLATE.read_text()
    assert set(step["with"]) <= set(INPUT_ENV)


def _route(tmp_path: Path, event: dict, token: str = "unused") -> str:
    """The template's routing step run as Actions runs it (python3 on the script), on ``event``."""
    (step,) = _yaml(TEMPLATE)["jobs"]["route"]["steps"]
    assert step["shell"] == "python3 {0}"
    script, payload, output = tmp_path / "route.py", tmp_path / "event.json", tmp_path / "output"
    script.write_text(step["run"])
    payload.write_text(json.dumps(event))
    output.unlink(missing_ok=True)
    env = {**os.environ, "GITHUB_EVENT_PATH": str(payload), "GITHUB_OUTPUT": str(output), "GITHUB_TOKEN": token}
    subprocess.run([sys.executable, str(script)], env=env, check=True, timeout=60)
    return output.read_text()


def test_the_route_names_the_issue_whether_the_event_came_from_the_issue_or_its_pr(tmp_path: Path):
    branch = "kodo/issue-12-add-multiplication"
    review = json.loads((EXAMPLES / "pull_request_review.submitted.0.json").read_text())
    review["pull_request"]["head"]["ref"] = branch
    run = json.loads((EXAMPLES / "workflow_run.completed.1.json").read_text())
    run["workflow_run"]["head_branch"] = branch
    labeled = json.loads((EXAMPLES / "issues.labeled.9.json").read_text())
    labeled["issue"]["number"] = 12
    for event in (review, run, labeled):
        assert _route(tmp_path, event) == "issue=12\n"
    run["workflow_run"]["head_branch"] = "main"
    assert _route(tmp_path, run) == "issue=none\n"


def test_the_route_asks_github_which_branch_a_pr_comment_is_on(tmp_path: Path):
    """A comment on the PR names only the PR: its branch comes from GitHub (the emulator here)."""
    with GitHubEmulator(tmp_path / "gh") as emu:
        emu.add_repo("octo/app", files={"README.md": "# app\n"})
        emu.seed("octo/app", {"fix.txt": "fixed\n"}, branch="kodo/issue-7-fix-it", message="Fix")
        token = emu.add_token("github-actions[bot]", permissions={"pull_requests": "write", "contents": "write"})
        gh = github.Github(base_url=emu.api_url, auth=github.Auth.Token(token))
        pull = gh.get_repo("octo/app").create_pull(title="Fix", body="", head="kodo/issue-7-fix-it", base="main")
        event = emu.add_comment("octo/app", pull.number, "/kodo stop", user="octo")
        (step,) = _yaml(TEMPLATE)["jobs"]["route"]["steps"]
        assert "Authorization" in step["run"]
        assert _route(tmp_path, event, token) == "issue=7\n"


def test_ci_runs_the_projects_own_script_on_python_311():
    wf = _yaml(CI)
    (job,) = wf["jobs"].values()
    assert wf["permissions"] == {"contents": "read"}
    setup = next(s for s in job["steps"] if "setup-python" in s.get("uses", ""))
    assert setup["with"]["python-version"] == "3.11"
    assert job["steps"][-1]["run"] == "bash .ci/run"
