"""A headless browser for agents that check user interfaces: the Playwright MCP server on the system Chromium.

An agent with ``browser: true`` in the team file (the default team's ``tester_browser``) gets the tools of
the Playwright MCP server (``@playwright/mcp``, pinned: ``PLAYWRIGHT_MCP_VERSION`` in ``engine/models.py``) as
``mcp__browser__*``: navigate, click, type, read the page, take a screenshot. The Claude Code CLI starts the
server over stdio, inside the agent's sandbox, so the browser sees what the agent sees (a server it started
on 127.0.0.1, the checkout) and nothing more. The server drives the Chromium of the Debian package
(``--executable-path``): kodo-bot never downloads a browser. Chromium's own sandbox needs namespaces that
bubblewrap already took, hence ``--no-sandbox``; bubblewrap is the sandbox.

Screenshots land in a folder kodo-bot chooses per session (``--output-dir``), outside the checkout, so
a verifier's checkout stays as committed. The agent can write that folder too (the browser is in its
sandbox), so ``Seal`` copies each PNG, as soon as it appears, into the run's evidence folder, which the
agent cannot write. ``BrowserSession`` puts in each result only the screenshots a screenshot tool call
reported taking (found by the path that call returned), as sealed, and the engine refuses a browser
verifier's pass without one (``engine/verdict.py``).

It deliberately knows nothing of Claude Code's options beyond the MCP server entry, and decides nothing
about verdicts.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import uuid
from collections.abc import Callable, Mapping, Sequence
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
            # the tool results name files by absolute path: ``screenshots`` finds each one by it
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


@dataclass(frozen=True)
class BrowserKit:
    """What a session whose agent has a browser starts with."""

    #: the CLI's ``mcpServers``
    mcp_servers: dict[str, Any]
    #: the agent's confinement, with the browser's folders writable and its install readable
    confinement: Confinement
    #: where the browser writes (the agent can write there too), and where kodo-bot keeps what it wrote
    seal: Seal


def give_browser(env: Mapping[str, str], confinement: Confinement, state_dir: Path) -> BrowserKit:
    """A browser for one session: its folders are new (a verifier's screenshots of round 2 never mix with
    round 1's), the evidence folder is kodo-bot's alone (``Seal``)."""
    from kodo_bot.errors import AgentError

    found = find_browser(env)
    if isinstance(found, str):
        raise AgentError(f"no browser for this agent: {found}")
    name = f"{confinement.home.name}-{uuid.uuid4().hex[:8]}"
    output, profile = (state_dir / "browser" / name / part for part in ("output", "profile"))
    evidence = state_dir.parent / "evidence" / name
    for folder in (output, profile, evidence):
        folder.mkdir(parents=True)
    writable = (*confinement.writable, output.resolve(), profile.resolve())
    confinement = replace(confinement, writable=writable, readable=(*confinement.readable, *found.readable()))
    return BrowserKit(found.mcp_servers(output.resolve(), profile.resolve()), confinement, Seal(output, evidence))


class Seal:
    """Keeps what the browser wrote where the agent cannot change it.

    The browser runs in the agent's sandbox, so the agent could overwrite a screenshot after the browser
    took it. Each PNG is copied into the evidence folder (which the sandbox does not let the agent write)
    the first time it is seen: right after each tool a verifier uses (the checkout watch's moment), and when
    a query ends. Only regular files that are PNGs are copied, never through a symlink, so an agent cannot
    make kodo-bot copy (and publish) a file it could not read itself."""

    def __init__(self, output: Path, evidence: Path) -> None:
        self.output, self.evidence = output.resolve(), evidence.resolve()

    def __call__(self) -> None:
        for source in self.output.glob("*.png"):
            target = self.evidence / source.name
            if not target.exists():
                _copy_png(source, target)

    def around(self, watch: Callable[[], str] | None) -> Callable[[], str] | None:
        """``watch``, sealing first (None stays None: the session then seals when each query ends)."""
        if watch is None:
            return None

        def sealed_then_watched() -> str:
            self()
            return watch()

        return sealed_then_watched


class BrowserSession:
    """A Claude Code session whose agent has a browser: each result carries the screenshots the browser took
    in it (``AgentResult.screenshots``), found from the tool results, never from the agent's prose."""

    def __init__(self, session: ClaudeSession, seal: Seal) -> None:
        self._session = session
        self.agent = session.agent
        self.seal = seal

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
        self.seal()
        return result.model_copy(update={"screenshots": screenshots(result.tool_calls, self.seal)})

    async def close(self) -> None:
        await self._session.close()


_SAVED = re.compile(r"(/[^\s)\]'\"`]+\.png)\b")
_PAGE = re.compile(r"Page URL: (\S+)")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: a viewport screenshot is tens of kilobytes; a full page of a long app a few megabytes
_MAX_PNG = 20 * 1024 * 1024


def screenshots(calls: Sequence[ToolCall], seal: Seal) -> tuple[Screenshot, ...]:
    """The PNGs screenshot calls reported saving into the browser's folder, as kodo-bot sealed them.

    A file the agent wrote there itself is not one (no tool result names it); a path outside the folder
    does not count either, nor a file that is not a PNG."""
    found = []
    url = ""
    for call in calls:
        if not is_browser_tool(call.name) or call.is_error:
            continue
        url = next(iter(_PAGE.findall(call.output)[-1:]), url)
        if not is_screenshot_tool(call.name):
            continue
        for raw in dict.fromkeys(_SAVED.findall(call.output)):
            sealed = seal.evidence / Path(raw).name
            if Path(raw).parent.resolve() == seal.output and _is_png(sealed):
                found.append(Screenshot(path=str(sealed), tool_use_id=call.tool_use_id, url=url))
    return tuple(found)


def _copy_png(source: Path, target: Path) -> None:
    """Copy ``source`` if it is a regular file (not followed through a symlink), a PNG, and not huge."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        data = file.read(_MAX_PNG + 1) if stat.S_ISREG(info.st_mode) else b""
    if data.startswith(PNG_SIGNATURE) and len(data) <= _MAX_PNG:
        target.write_bytes(data)


def _is_png(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE
    except OSError:
        return False
