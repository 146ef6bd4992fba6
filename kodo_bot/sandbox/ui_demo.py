"""``kodo-bot demo --ui``: a UI goal verified in a real browser, offline.

The goal is a static sign-up page: a form whose Send button thanks the user by name. The first attempt's
button does nothing (its script looks for an element that does not exist); ``tester_browser`` opens the
page in a real headless Chromium (the Debian package, driven by the Playwright MCP server the real Claude
Code CLI starts), types a name, clicks Send, reads the page and takes a screenshot, and rejects. The fix is
accepted the same way, with a screenshot in its verdict.

The script does not decide the verdicts: each round's last tester step is a ``branch`` (docs/scenario.md)
that answers pass only when the page the browser really read after the click says "Thanks, Ada!", else
fail. The pass also rests on a real command (``curl``: the page is served), as every pass must, and on the
screenshot the browser took (the engine refuses a browser verifier's pass without one).

On the GitHub emulator (the default) the round comments embed the screenshots from the ``kodo/evidence``
branch; ``--local`` runs the engine alone. It needs ``chromium`` and ``playwright-mcp`` on PATH and says so,
exit 2, when either is missing.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import yaml

from kodo_bot.engine.team import Team, default_team
from kodo_bot.sandbox.scenario import Scenario
from kodo_bot.sandbox.stories import Story, bash, delegate, done, say, verdict, write_file

if TYPE_CHECKING:
    from kodo_bot.sandbox.github_emulator import GitHubEmulator

PROJECT = "signup"
REPO = f"demo/{PROJECT}"
NAME = "Ada"
THANKS = f"Thanks, {NAME}!"
#: the project's own check: the page has a form (the browser judges whether it works)
HAS_FORM = "grep -q '<form' index.html"

GOAL = f"""# A sign-up page

Add `index.html`: a static page with a sign-up form, a Name field and a Send button. Clicking Send shows
"Thanks, <name>!" under the form (for the name {NAME}: "{THANKS}"), without reloading the page.
"""

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Sign up</title><link rel="icon" href="data:,">
<style>body {{ font: 18px sans-serif; margin: 3em; }} #out {{ color: #1a7f37; font-weight: bold; }}</style>
</head>
<body>
<h1>Sign up</h1>
<form id="signup" onsubmit="return false">
  <label>Name <input id="name" name="name" autocomplete="off"></label>
  <button type="button" id="send">Send</button>
</form>
<p id="out"></p>
<script>
document.getElementById("{button}").addEventListener("click", () => {{
  document.getElementById("out").textContent = "Thanks, " + document.getElementById("name").value + "!";
}});
</script>
</body>
</html>
"""
#: the first attempt listens on a button that is not there: Send does nothing
PAGE_BROKEN = _PAGE.format(button="submit")
PAGE_FIXED = _PAGE.format(button="send")


def browser_call(tool: str, **params: Any) -> dict[str, Any]:
    return {"name": f"mcp__browser__{tool}", "input": params}


SCREENSHOT = browser_call("browser_take_screenshot", type="png", scale="css")


def browser_checks(port: int) -> list[dict[str, Any]]:
    """One verification round of tester_browser: serve the page, use it in the browser, judge what it showed.

    The check its verdict claims (the page is still served) runs after the browser did its work, in the same
    turn as the snapshot and the screenshot: that turn's results are what the branch reads, and a check run
    after browsing counts only if the browser left the verifier's HOME and checkout as they were."""
    url = f"http://127.0.0.1:{port}/"
    wait = f"curl -sf --retry 30 --retry-connrefused --retry-delay 1 -o /dev/null {url}"
    served = f"curl -sf -o /dev/null {url}"
    serve = {"command": f"python3 -m http.server {port} --bind 127.0.0.1", "run_in_background": True}
    finding = {
        "severity": "high",
        "file": "index.html",
        "message": f'After typing {NAME} and clicking Send, the page shows nothing: no "{THANKS}" (the button does '
        "nothing; see the screenshot)",
    }
    return [
        {"tool_calls": [{"name": "Bash", "input": {**serve, "description": "serve the page"}}]},
        bash(wait),
        {"tool_calls": [browser_call("browser_navigate", url=url)]},
        {"tool_calls": [browser_call("browser_type", element="Name field", target="#name", text=NAME)]},
        {"tool_calls": [browser_call("browser_click", element="Send button", target="#send")]},
        {"tool_calls": [browser_call("browser_snapshot"), SCREENSHOT, *bash(served)["tool_calls"]]},
        {
            "branch": {
                "contains": THANKS,
                "then": verdict(True, f'Clicking Send shows "{THANKS}" (screenshot).', checks=[(served, 0)]),
                "else": verdict(False, "The Send button does nothing.", checks=[(served, 0)], findings=[finding]),
            }
        },
    ]


def ui_story(port: int) -> Story:
    """Two cycles: the browser tester rejects the first page (Send does nothing), accepts the fixed one."""
    roles = {
        "orchestrator": [
            delegate(("worker_fast", "Write index.html: a sign-up form (Name, Send) that thanks the user on Send.")),
            done("Added the sign-up page."),
            delegate(("worker_fast", "The Send button does nothing: its click handler is on #submit. Fix it.")),
            done("The Send button now thanks the user by name."),
        ],
        "worker_fast": [
            write_file("index.html", PAGE_BROKEN),
            say("Wrote index.html with the form."),
            write_file("index.html", PAGE_FIXED),
            say("The click handler is now on #send."),
        ],
        "verifier/tester_browser": [*browser_checks(port), *browser_checks(port)],
    }
    return Story(
        goal=GOAL,
        files={"README.md": "# signup\n\nA static sign-up page.\n"},
        scenario=Scenario.from_dict({"roles": roles}, source="the UI demo story"),
        check_commands=[HAS_FORM],
        ui=True,
        project=PROJECT,
    )


def ui_team() -> Team:
    """The default team's worker_fast and tester_browser: the browser tester is the only verifier."""
    return default_team().without({"architect", "worker_smart", "tester"})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_ui_demo(where: Path | None, *, env: Mapping[str, str], json_mode: bool = False, local: bool = False) -> int:
    from kodo_bot.agents.browser import find_browser

    found = find_browser(env)
    if isinstance(found, str):
        print(f"kodo-bot demo --ui needs a browser: {found}", file=sys.stderr)
        return 2
    story = ui_story(free_port())
    if local:
        from kodo_bot.sandbox.demo import run_demo

        return run_demo(where, env=env, json_mode=json_mode, story=story, team=ui_team())
    return _run_on_github(where, env, story, json_mode)


@dataclass
class UiDemoRun:
    """What the story on the emulator came to."""

    outcome: str
    issue: int
    wall_s: float
    log: Path | None


def _run_on_github(where: Path | None, env: Mapping[str, str], story: Story, json_mode: bool) -> int:
    from kodo_bot.sandbox.github_demo import posted_comments
    from kodo_bot.sandbox.github_emulator import GitHubEmulator

    root = Path(where or tempfile.mkdtemp(prefix="kodo-ui-demo-")).resolve()
    if root.exists() and any(root.iterdir()):
        print(f"kodo-bot demo: {root} is not empty; pass an empty --dir", file=sys.stderr)
        return 2
    out = sys.stderr if json_mode else sys.stdout
    with GitHubEmulator(root / "github") as emu:
        run = play_on_github(emu, root, env, story, out)
        posted = posted_comments(emu, run.issue, repo=REPO)
        evidence = emu.branches(REPO).get("kodo/evidence")
    if json_mode:
        print(json.dumps({"outcome": run.outcome, "wall_s": round(run.wall_s, 1), "log": str(run.log),
                          "evidence_commit": evidence, "comments": posted}))  # fmt: skip
    else:
        for item in posted:
            print(f"--- {item['where']}: {item['kind']} ---\n{item['body']}\n", file=out)
        print(f"Outcome: {run.outcome} · {run.wall_s:.0f} s\nEvent log: {run.log}", file=out)
    return 0 if run.outcome == "accepted" else 1


def play_on_github(emu: GitHubEmulator, root: Path, env: Mapping[str, str], story: Story, out: TextIO) -> UiDemoRun:
    """The story on a running emulator: the repository with the demo's team in ``.github/kodo.yml``, a
    maintainer labelling the issue, and ``kodo-bot action`` handling that event as on a runner."""
    from kodo_bot.sandbox.github_demo import BOT, MAINTAINER, PERMISSIONS, Act

    started = time.monotonic()
    config = {"check_commands": story.check_commands, "budgets": {"max_cycles": 4}, "team": _team_data()}
    emu.add_repo(REPO, files={**story.files, ".github/kodo.yml": yaml.safe_dump(config, sort_keys=False)})
    emu.add_collaborator(REPO, MAINTAINER, "maintain")
    token = emu.add_token(BOT, permissions=PERMISSIONS)
    title, _, body = story.goal.lstrip("# ").partition("\n")
    issue = emu.create_issue(REPO, title.strip(), body.strip(), user=MAINTAINER)
    event = emu.label_issue(REPO, issue.number, "kodo", actor=MAINTAINER)
    print(
        f"GitHub emulator: {emu.html_url}/{REPO}\n@{MAINTAINER} labelled issue #{issue.number} with `kodo`.\n", file=out
    )
    outcome = Act(root, env, emu, token, out, repo=REPO).play("job", "issues", event, story.scenario.roles)
    log = next((root / "runs").rglob("events.jsonl"), None)
    return UiDemoRun(outcome, issue.number, time.monotonic() - started, log)


def _team_data() -> dict[str, Any]:
    """The demo's team as ``.github/kodo.yml`` carries it inline."""
    team = ui_team()
    agents = {name: spec.model_dump(exclude={"name"}, exclude_defaults=True) for name, spec in team.agents.items()}
    return {"agents": agents}
