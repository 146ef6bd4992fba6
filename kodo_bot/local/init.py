"""``kodo-bot init [DIR]``: put kodo-bot on a repository.

It writes ``.github/workflows/kodo.yml`` (the shipped template, its ``uses:`` pinned to this version) and
``.github/kodo.yml`` (the trigger label and the check command it detects), and with a token creates the
labels kodo-bot uses (the trigger label, ``kodo:running``, ``kodo:accepted``, ``kodo:needs-human``,
``kodo:failed``) on GitHub.

Idempotent: a file that already says the same is left alone; one that differs is shown as a diff and
kept unless ``--force``; a label that exists is left alone. A directory that is not a git checkout is
refused before anything is written. It commits nothing: what to commit is the person's call.
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from kodo_bot import __version__
from kodo_bot.errors import ConfigError, UserError
from kodo_bot.github.token_probe import rest_session

WORKFLOW = Path(".github/workflows/kodo.yml")
SETTINGS = Path(".github/kodo.yml")
#: the label kodo-bot applies itself, with GitHub colours and descriptions
BOT_LABELS = {
    "kodo:running": ("fbca04", "kodo-bot is working on this issue"),
    "kodo:accepted": ("0e8a16", "kodo-bot's work passed verification"),
    "kodo:needs-human": ("d93f0b", "kodo-bot stopped: a person should look"),
    "kodo:failed": ("b60205", "kodo-bot failed: see its comment"),
}
_TRIGGER_COLOUR = "1d76db"
_TEMPLATE_USES = "OWNER/kodo-bot@v0"
_GITHUB_REMOTE = re.compile(r"github\.com[:/]([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")

Written = Literal["created", "unchanged", "replaced", "kept"]


@dataclass(frozen=True)
class InitRequest:
    directory: Path
    env: Mapping[str, str]
    force: bool = False
    action_repo: str | None = None
    repo: str | None = None
    api_url: str = "https://api.github.com"
    token: str | None = None


@dataclass(frozen=True)
class FileResult:
    path: Path
    written: Written
    diff: str = ""


def workflow_text(action_repo: str | None) -> str:
    """The shipped workflow with its ``uses:`` pinned to this version of kodo-bot."""
    template = resources.files("kodo_bot").joinpath("data/workflow-kodo.yml").read_text(encoding="utf-8")
    return template.replace(_TEMPLATE_USES, f"{action_repo or 'OWNER/kodo-bot'}@v{__version__}")


def settings_text(label: str, check: str | None) -> str:
    checks = f"check_commands: [{json.dumps(check)}]" if check else "# check_commands: []  # none detected"
    return (
        "# kodo-bot's settings (README: On GitHub, with a self-hosted runner)\n"
        f"label: {label}                      # the label that starts a run\n"
        f"{checks}\n"
        "budgets:\n"
        "  max_cycles: 10\n"
        "  max_minutes: 100\n"
    )


def place(root: Path, rel: Path, text: str, force: bool) -> FileResult:
    """Write one file unless it already says something else (then only with ``force``); never partially."""
    target = root / rel
    if target.is_file():
        old = target.read_text(encoding="utf-8", errors="replace")
        if old == text:
            return FileResult(rel, "unchanged")
        diff = "".join(difflib.unified_diff(old.splitlines(True), text.splitlines(True), f"a/{rel}", f"b/{rel}"))
        if not force:
            return FileResult(rel, "kept", diff)
        written: Written = "replaced"
    else:
        diff, written = "", "created"
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".kodo-tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)
    return FileResult(rel, written, diff)


def checkout_root(directory: Path) -> Path:
    if not directory.is_dir():
        raise UserError(f"{directory} is not a directory")
    done = subprocess.run(
        ["git", "rev-parse", "--show-toplevel"], cwd=directory, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise UserError(
            f"{directory.resolve()} is not a git repository",
            hint="run kodo-bot init in your repository's checkout (or `git init` there first); nothing was written",
        )
    return Path(done.stdout.strip())


def origin_repo(root: Path) -> str | None:
    done = subprocess.run(["git", "remote", "get-url", "origin"], cwd=root, capture_output=True, text=True, check=False)
    found = _GITHUB_REMOTE.search(done.stdout.strip()) if done.returncode == 0 else None
    return found.group(1) if found else None


def _current_label(root: Path) -> str:
    from kodo_bot.github.config import parse_kodo_config

    path = root / SETTINGS
    if not path.is_file():
        return "kodo"
    try:
        return parse_kodo_config(path.read_text(encoding="utf-8"), source=str(SETTINGS)).label
    except ConfigError:
        return "kodo"


def create_labels(api_url: str, token: str, repo: str, trigger: str) -> list[str]:
    """Create the labels missing on GitHub; returns one line per label. A refusal raises ``UserError``."""
    wanted = {trigger: (_TRIGGER_COLOUR, "kodo-bot works on issues with this label"), **BOT_LABELS}
    lines = []
    with rest_session(token, "kodo-bot-init") as s:
        for name, (colour, description) in wanted.items():
            found = s.get(f"{api_url}/repos/{repo}/labels/{quote(name, safe='')}", timeout=30)
            if found.status_code == 200:
                lines.append(f"  label {name}: exists")
                continue
            _refused(found.status_code, repo, "issues: read")
            made = s.post(
                f"{api_url}/repos/{repo}/labels",
                json={"name": name, "color": colour, "description": description},
                timeout=30,
            )
            _refused(made.status_code, repo, "issues: write")
            if made.status_code != 201:
                raise UserError(f"GitHub answered {made.status_code} creating the label {name} on {repo}")
            lines.append(f"  label {name}: created")
    return lines


def _refused(status: int, repo: str, permission: str) -> None:
    if status == 401:
        raise UserError("GitHub answered 401 Bad credentials: the token is wrong or expired (files were written)")
    if status == 403:
        raise UserError(
            f"the token may not create labels on {repo}", hint=f"grant it {permission} (files were written)"
        )


def run_init(request: InitRequest) -> int:
    root = checkout_root(request.directory)
    from kodo_bot.engine.project_tests import detect_test_command

    label = _current_label(root)
    settings = settings_text(label, detect_test_command(root, request.env))
    results = [
        place(root, WORKFLOW, workflow_text(request.action_repo), request.force),
        place(root, SETTINGS, settings, request.force),
    ]
    for r in results:
        print(f"{r.path}: {r.written}")
        if r.diff:
            sys.stdout.write(r.diff if r.diff.endswith("\n") else r.diff + "\n")
    kept = [r for r in results if r.written == "kept"]
    if request.action_repo is None and any(r.path == WORKFLOW and r.written != "kept" for r in results):
        print(f"note: replace OWNER in {WORKFLOW} with the account you install the action from (or --action-repo)")
    if request.token:
        repo = request.repo or origin_repo(root)
        if repo is None:
            raise UserError("which GitHub repository? origin is not on github.com", hint="pass --repo OWNER/NAME")
        print(f"labels on {repo}:")
        print("\n".join(create_labels(request.api_url.rstrip("/"), request.token, repo, label)))
    else:
        print("labels: not created (no GITHUB_TOKEN); kodo-bot creates them on first use")
    if kept:
        for r in kept:
            print(
                f"kodo-bot init: {r.path} was changed by hand; left as it is (the diff above is what init would "
                "write): run with --force to replace it",
                file=sys.stderr,
            )
        return 2
    return 0
