"""A headless browser for agents that check user interfaces: the Playwright MCP server on the system Chromium.

An agent with ``browser: true`` in the team file (the default team's ``tester_browser``) gets the tools of
the Playwright MCP server (``@playwright/mcp``, pinned: ``PLAYWRIGHT_MCP_VERSION`` in ``engine/models.py``) as
``mcp__browser__*``: navigate, click, type, read the page, take a screenshot. The Claude Code CLI starts the
server over stdio, inside the agent's sandbox, so the browser sees what the agent sees (a server it started
on 127.0.0.1, the checkout) and nothing more. The server drives the Chromium of the Debian package
(``--executable-path``): kodo-bot never downloads a browser. Chromium's own sandbox needs namespaces that
bubblewrap already took, hence ``--no-sandbox``; bubblewrap is the sandbox.

Screenshots land in a folder kodo-bot chooses per session (``--output-dir``), outside the checkout, so
they survive it and a verifier's checkout stays as committed. ``BrowserSession`` puts in each result only
the screenshots a screenshot tool call reported taking there (found by the path that call returned), and the
engine refuses a browser verifier's pass without one (``engine/verdict.py``).

It deliberately knows nothing of Claude Code's options beyond the MCP server entry, and decides nothing
about verdicts.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kodo_bot.engine.models import INSTALL, AgentResult, Screenshot, ToolCall

if TYPE_CHECKING:
    from kodo_bot.agents._claude_session import ClaudeSession
    from kodo_bot.confine import Confinement

#: the MCP server's name in the CLI's config: its tools are offered as ``mcp__browser__<tool>``
SERVER = "browser"


@dataclass(frozen=True)
class Browser:
    """Where the MCP server and Chromium are on this machine."""

    server: Path
    chromium: Path

    def mcp_servers(self, output_dir: Path, profile: Path) -> dict[str, Any]:
        """The CLI's ``mcpServers`` entry: a headless, in-memory browser whose files go to ``output_dir``, and
        what Chromium writes for itself (crash report settings, caches) to ``profile``. Not to HOME: a
        verifier's HOME must stay empty, or every check it runs after browsing counts as run on an edited
        checkout."""
        args = [
            "--headless",
            "--isolated",
            "--no-sandbox",
            f"--executable-path={self.chromium}",
            f"--output-dir={output_dir}",
            # the tool results name files by absolute path: the engine finds the screenshot by it
            "--file-paths=absolute",
        ]
        env = {"XDG_CONFIG_HOME": str(profile / "config"), "XDG_CACHE_HOME": str(profile / "cache")}
        return {SERVER: {"type": "stdio", "command": str(self.server), "args": args, "env": env}}

    def readable(self) -> tuple[Path, ...]:
        """What the sandbox must let the server read although it may sit under a hidden place (an npm
        install under /tmp or HOME): the whole ``node_modules`` it lives in."""
        from kodo_bot.agents.backends import _install_of

        return _install_of(self.server)


def find_browser(env: Mapping[str, str]) -> Browser | str:
    """The browser an agent can drive here (both on ``env``'s PATH, as the engine checks ``BROWSER_TOOLS``
    before it lets such an agent in), or a sentence saying what is missing and how to install it."""
    path = env.get("PATH", os.defpath)
    chromium = shutil.which("chromium", path=path)
    if chromium is None:
        return f"no chromium on PATH: {INSTALL['chromium']}"
    server = shutil.which("playwright-mcp", path=path)
    if server is None:
        return f"the Playwright MCP server (playwright-mcp) is not on PATH: {INSTALL['playwright-mcp']}"
    return Browser(server=Path(server), chromium=Path(chromium))


def is_browser_tool(name: str) -> bool:
    return name.startswith(f"mcp__{SERVER}__")


def is_screenshot_tool(name: str) -> bool:
    return name == f"mcp__{SERVER}__browser_take_screenshot"


def give_browser(
    env: Mapping[str, str], confinement: Confinement, state_dir: Path
) -> tuple[dict[str, Any], Confinement, Path]:
    """The MCP servers, the confinement and the evidence folder of a session whose agent has a browser. The
    folder is new for each session (a verifier's screenshots of round 2 never mix with round 1's)."""
    from kodo_bot.errors import AgentError

    found = find_browser(env)
    if isinstance(found, str):
        raise AgentError(f"no browser for this agent: {found}")
    name = f"{confinement.home.name}-{uuid.uuid4().hex[:8]}"
    evidence = (state_dir.parent / "evidence" / name).resolve()
    profile = (state_dir / "browser-profiles" / name).resolve()
    for folder in (evidence, profile):
        folder.mkdir(parents=True)
    writable = (*confinement.writable, evidence, profile)
    confinement = replace(confinement, writable=writable, readable=(*confinement.readable, *found.readable()))
    return found.mcp_servers(evidence, profile), confinement, evidence


class BrowserSession:
    """A Claude Code session whose agent has a browser: each result carries the screenshots the browser took
    in it (``AgentResult.screenshots``), found from the tool results, never from the agent's prose."""

    def __init__(self, session: ClaudeSession, evidence: Path) -> None:
        self._session = session
        self.agent = session.agent
        #: where this session's browser writes its files
        self.evidence = evidence

    @property
    def session_id(self) -> str | None:
        return self._session.session_id

    @property
    def home(self) -> Path | None:
        return self._session.home

    async def start(self) -> None:
        await self._session.start()

    async def query(self, prompt: str) -> AgentResult:
        result = await self._session.query(prompt)
        return result.model_copy(update={"screenshots": screenshots(result.tool_calls, self.evidence)})

    async def close(self) -> None:
        await self._session.close()


_SAVED = re.compile(r"(/[^\s)\]'\"`]+\.png)\b")
_PAGE = re.compile(r"Page URL: (\S+)")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def screenshots(calls: Sequence[ToolCall], evidence: Path) -> tuple[Screenshot, ...]:
    """The PNGs that screenshot calls reported saving into ``evidence`` and that are there, as PNGs.

    A file the agent wrote there itself is not one (no tool result names it); a path outside the folder
    does not count either (the browser's folder is the only one kodo-bot collects from)."""
    found = []
    url = ""
    for call in calls:
        if not is_browser_tool(call.name) or call.is_error:
            continue
        url = next(iter(_PAGE.findall(call.output)[-1:]), url)
        if not is_screenshot_tool(call.name):
            continue
        for raw in dict.fromkeys(_SAVED.findall(call.output)):
            path = Path(raw)
            if path.parent.resolve() == evidence.resolve() and _is_png(path):
                found.append(Screenshot(path=str(path), tool_use_id=call.tool_use_id, url=url))
    return tuple(found)


def _is_png(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
    except OSError:
        return False
