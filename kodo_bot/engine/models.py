"""The values the engine passes around: agent results, evidence, verdicts, costs, outcomes.

All frozen pydantic models so they serialise into the event log and the checkpoint unchanged, and so a
verdict or an outcome is a value the loop inspects rather than an exception it catches.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


#: who pays for tokens: the user per token (``api``, what ``max_cost_usd`` limits) or a plan (``subscription``)
Bucket = Literal["api", "subscription"]


class Usage(_Frozen):
    """Tokens as the model API reported them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_creation_tokens=self.cache_creation_tokens + other.cache_creation_tokens,
        )

    @classmethod
    def from_record(cls, data: Mapping[str, Any], **names: str | tuple[str, ...]) -> Usage:
        """A usage record as a CLI reports it, each field under the name (or the first of the names) it
        uses; a count that is missing or not a whole number is 0."""

        def count(keys: str | tuple[str, ...]) -> int:
            found = (data.get(k) for k in ((keys,) if isinstance(keys, str) else keys))
            return next((v for v in found if isinstance(v, int) and not isinstance(v, bool)), 0)

        return cls(**{name: count(keys) for name, keys in names.items()})


class ToolCall(_Frozen):
    """One tool the agent used, with the result *as the CLI reported it* (not as the agent described it)."""

    tool_use_id: str = ""
    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    #: the tool result text, trimmed to its tail so the log stays small
    output: str = ""
    is_error: bool = False
    #: for Bash: the exit status the CLI observed (0 when it reported success, None when unknown)
    exit_code: int | None = None
    #: when the engine watched the checkout (verifiers): what differed from the commit under review just
    #: before the tool ran and just after it ("" = nothing); None when it was not observed
    checkout_before: str | None = None
    checkout_after: str | None = None

    @property
    def command(self) -> str | None:
        """The shell command, for Bash calls."""
        cmd = self.input.get("command") if self.name == "Bash" else None
        return cmd if isinstance(cmd, str) else None


class Screenshot(_Frozen):
    """A PNG a browser tool took and said it took: evidence of what the page showed. Only the backend's own
    tool result names one (a file an agent wrote itself is not a screenshot)."""

    #: where the file is, on the machine that ran the agent (kodo-bot's folder, outside any checkout)
    path: str
    #: the tool call that took it
    tool_use_id: str = ""
    #: the page it shows, when the browser said
    url: str = ""


class AgentResult(_Frozen):
    """What one query to an agent session returned."""

    agent: str
    text: str = ""
    turns: int = 0
    usage: Usage = Usage()
    cost_usd: float = 0.0
    session_id: str | None = None
    is_error: bool = False
    #: why the call ended badly (turn limit, idle timeout, CLI crash ...), None when it did not
    error: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    duration_s: float = 0.0
    #: tracked files the agent left changed in its checkout (recorded for verifiers, whose edits are discarded)
    changed_files: tuple[str, ...] = ()
    #: for a watched checkout: what differed from the commit when the agent had finished ("" = nothing)
    checkout_after: str | None = None
    #: who pays for ``cost_usd``: the CLI's subscription, or per token where it runs on an API key (the session says)
    billing: Bucket = "subscription"
    #: pictures a browser tool took and reported (agents with ``browser: true``), in the order taken
    screenshots: tuple[Screenshot, ...] = ()

    @property
    def commands(self) -> tuple[ToolCall, ...]:
        return tuple(c for c in self.tool_calls if c.command is not None)


Severity = Literal["critical", "high", "medium", "low", "info"]


class Finding(_Frozen):
    severity: Severity = "medium"
    file: str | None = None
    line: int | None = None
    message: str


class Evidence(_Frozen):
    """A command that was observed to run, with its real exit status."""

    command: str
    exit_code: int | None
    output_tail: str = ""
    #: what differed from the commit under review while it ran ("" = nothing, None = not watched)
    edited: str | None = None


class ReviewPoint(_Frozen):
    """Something a person asked of the work (a review comment, a CI failure): verifiers answer each one, and
    a point they do not find addressed is a finding. The engine knows nothing of where it came from."""

    #: stable across retries and resumes (the GitHub layer uses the comment's id)
    id: str
    author: str
    text: str
    file: str | None = None
    line: int | None = None
    #: what it was written on, e.g. the diff hunk of an inline comment
    context: str = ""


class PointAnswer(_Frozen):
    """A verifier's answer to one review point, for the commit under review."""

    id: str
    addressed: bool
    #: what changed that addresses it, or why it was not changed
    how: str = ""


class Steering(_Frozen):
    """New input from people that reached a live run (a review, a mention), taken at a cycle boundary."""

    #: stable id, so the source can tell what the run has taken (``SteeringTaken``)
    id: str
    text: str
    points: tuple[ReviewPoint, ...] = ()


class Verdict(_Frozen):
    """One verifier's judgement of one commit."""

    verifier: str
    passed: bool
    summary: str = ""
    findings: tuple[Finding, ...] = ()
    #: commands the engine saw the verifier run (from tool results, never from its prose)
    evidence: tuple[Evidence, ...] = ()
    #: its answer to each review point of the run, in the run's order
    points: tuple[PointAnswer, ...] = ()
    #: set when the engine overruled or could not read the verifier (unparseable, unproven pass ...)
    engine_note: str | None = None
    cost_usd: float = 0.0
    #: what a browser verifier's browser showed (``AgentResult.screenshots``), for people to look at
    screenshots: tuple[Screenshot, ...] = ()


class CheckResult(_Frozen):
    """A check command the engine itself ran in a clean checkout."""

    command: str
    #: "configured" (--check, check_commands) or "detected" (the project's own test command, found by the engine)
    source: Literal["configured", "detected"] = "configured"
    exit_code: int
    output_tail: str = ""
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.exit_code == 0


#: the orchestrator model a run uses unless told otherwise
DEFAULT_ORCHESTRATOR_MODEL = "claude-sonnet-5-5"


class Outcome(str, enum.Enum):
    """How a run ended. Only ``accepted`` means verification passed."""

    accepted = "accepted"
    needs_human = "needs_human"
    max_cycles = "max_cycles"
    budget_exhausted = "budget_exhausted"
    stopped = "stopped"  # a sink asked the run to stop (e.g. the issue was closed)
    error = "error"
    interrupted = "interrupted"  # Ctrl-C or a crash: resumable, not final

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self]


#: what `kodo-bot run` exits with, so scripts can trust it. 2 is reserved for bad input (UserError).
EXIT_CODES: dict[Outcome, int] = {
    Outcome.accepted: 0,
    Outcome.error: 1,
    Outcome.needs_human: 3,
    Outcome.max_cycles: 4,
    Outcome.budget_exhausted: 5,
    Outcome.stopped: 6,
    Outcome.interrupted: 130,
}
EXIT_BAD_INPUT = 2


class AgentCost(_Frozen):
    bucket: Bucket
    usd: float = 0.0
    calls: int = 0
    usage: Usage = Usage()
    #: whose model did the work: ``Claude``, ``Codex``, ``Gemini`` or ``Cursor`` ("" in runs from before it was kept)
    provider: str = ""

    def plus(self, other: AgentCost) -> AgentCost:
        """Both together, in ``other``'s bucket and provider (the latest call says who pays now)."""
        return AgentCost(
            bucket=other.bucket,
            provider=other.provider or self.provider,
            usd=self.usd + other.usd,
            calls=self.calls + other.calls,
            usage=self.usage + other.usage,
        )


class CostReport(_Frozen):
    """Spend split into what the user pays per token (API) and what their subscription covers."""

    api_usd: float = 0.0
    subscription_usd: float = 0.0
    by_agent: dict[str, AgentCost] = Field(default_factory=dict)

    def by_provider(self) -> list[AgentCost]:
        """The spend summed per provider and bucket (one CLI on a plan and on an API key are two lines),
        largest first."""
        sums: dict[tuple[str, Bucket], AgentCost] = {}
        for c in self.by_agent.values():
            key = (c.provider, c.bucket)
            sums[key] = sums.get(key, AgentCost(bucket=c.bucket, provider=c.provider)).plus(c)
        return sorted(sums.values(), key=lambda c: (-c.usd, c.provider, c.bucket))


#: what an agent with ``browser: true`` runs: the system's Chromium (the Debian package) and the Playwright MCP
#: server (``npm install -g @playwright/mcp@0.0.83``)
BROWSER_TOOLS = ("chromium", "playwright-mcp")
#: the version of ``@playwright/mcp`` kodo-bot drives (its tool names and flags change between versions)
PLAYWRIGHT_MCP_VERSION = "0.0.83"
#: how to get what ``requires`` or a browser may name, for the warning that leaves an agent out
INSTALL = {
    "chromium": "sudo apt-get install chromium (the Debian package; kodo-bot downloads no browser)",
    "playwright-mcp": f"npm install -g @playwright/mcp@{PLAYWRIGHT_MCP_VERSION}",
}
