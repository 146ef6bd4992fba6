"""Turning the Claude Code CLI's message stream into kodo-bot values, as the stream arrives.

``QueryProgress`` is what one query has produced so far (turns, text, tool calls paired with their results); the
functions below are pure conversions from the SDK's message types to ``AgentResult`` parts. Nothing here
starts, stops or waits on a process: ``claude.py`` does that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from claude_agent_sdk import AssistantMessage, ResultMessage, TextBlock, ToolResultBlock, ToolUseBlock, UserMessage

from kodo_bot.engine.models import AgentResult, ToolCall, Usage
from kodo_bot.redact import redact

#: how much of a tool's output an AgentResult keeps: the end, where errors and test summaries are
OUTPUT_TAIL = 4000


class QueryProgress:
    """What one query has produced so far, in the order the CLI reported it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.turns = 0
        self.stopping = False
        self.result: ResultMessage | None = None
        self.last_text = ""
        self._turn_ids: set[str] = set()
        self._turn_usage: list[dict[str, Any]] = []
        self._tool_turn: dict[str, int] = {}
        self._uses: dict[str, ToolUseBlock] = {}
        self._results: dict[str, tuple[ToolResultBlock, Any]] = {}
        #: what the checkout watch said just before and just after each tool ran (watched sessions only)
        self.checkout_before: dict[str, str] = {}
        self.checkout_after: dict[str, str] = {}
        self._seen = asyncio.Event()

    @property
    def over_limit(self) -> bool:
        return self.turns > self.limit

    def limit_error(self) -> str | None:
        return f"turn limit {self.limit} reached" if self.over_limit else None

    def observe(self, message: object) -> None:
        if isinstance(message, AssistantMessage):
            self._assistant(message)
        elif isinstance(message, UserMessage) and isinstance(message.content, list):
            for block in message.content:
                if isinstance(block, ToolResultBlock):
                    # tool_use_result is the CLI's structured result, the same object a PostToolUse hook gets
                    # as tool_response; each UserMessage carries exactly one tool result.
                    self._results[block.tool_use_id] = (block, message.tool_use_result)
        elif isinstance(message, ResultMessage):
            self.result = message

    def _assistant(self, message: AssistantMessage) -> None:
        # The CLI emits one AssistantMessage per content block, so a turn is a distinct message id. Its
        # own error notices (model "<synthetic>") and subagents' turns are not this agent's turns.
        main = message.parent_tool_use_id is None and message.model != "<synthetic>"
        if main and (message.message_id is None or message.message_id not in self._turn_ids):
            self.turns += 1
            self.last_text = ""
            if message.message_id is not None:
                self._turn_ids.add(message.message_id)
            if message.usage:
                self._turn_usage.append(message.usage)
        for block in message.content:
            if isinstance(block, TextBlock) and main:
                self.last_text = f"{self.last_text}\n{block.text}" if self.last_text else block.text
            elif isinstance(block, ToolUseBlock):
                self._uses[block.id] = block
                self._tool_turn[block.id] = self.turns
        self._seen.set()
        self._seen = asyncio.Event()

    async def turn_of(self, tool_use_id: str, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while tool_use_id not in self._tool_turn:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._seen.wait(), left)
        return self._tool_turn[tool_use_id]

    def streamed_usage(self) -> Usage:
        """Usage summed from the turns seen, for a query that ended without the CLI's own total."""
        total = Usage()
        for usage in self._turn_usage:
            total = total + usage_from(usage)
        return total

    def tool_calls(self) -> tuple[ToolCall, ...]:
        calls = (tool_call(use, self._results.get(use.id)) for use in self._uses.values())
        return tuple(
            c.model_copy(
                update={
                    "checkout_before": self.checkout_before.get(c.tool_use_id),
                    "checkout_after": self.checkout_after.get(c.tool_use_id),
                }
            )
            for c in calls
        )


# --- turning CLI messages into values (pure) --------------------------------------------------------

# A failed Bash command's result starts with this line, written by the CLI before the command's own
# output, so a command cannot forge it (its output comes after).
_EXIT_LINE = re.compile(r"Exit code (\d+)(?:\n|$)")


def bash_exit_code(*, is_error: bool, output: str, raw: Any) -> int | None:
    """The exit status of a Bash tool call, from what the CLI reported (never from the agent's prose).

    Measured with CLI 2.1.330. ``raw`` is the stream's ``tool_use_result``; hooks would add nothing: a
    PostToolUse hook's ``tool_response`` is that same dict, and a failed command fires PostToolUseFailure
    instead, whose ``error`` is the result text below. Neither carries a numeric status for exit 0.

    - exit 0: ``is_error`` false and ``raw`` a dict (stdout, stderr, interrupted, ...) -> 0;
    - any other exit: ``is_error`` true and the text starts "Exit code N" (a timeout is "Exit code 143")
      -> N;
    - a non-zero exit the CLI deems expected (``grep`` finding nothing, ``diff`` finding differences):
      ``is_error`` false and ``raw["returnCodeInterpretation"]`` set, with no number -> None;
    - sent to the background (``backgroundTaskId``), interrupted, refused by a hook or invalid input
      (no "Exit code" line) -> None: it did not finish, or not as far as the CLI could tell.
    """
    if is_error:
        match = _EXIT_LINE.match(output)
        return int(match.group(1)) if match else None
    if not isinstance(raw, dict) or raw.get("interrupted") or raw.get("backgroundTaskId"):
        return None
    if raw.get("returnCodeInterpretation"):
        return None
    return 0


def tool_call(use: ToolUseBlock, outcome: tuple[ToolResultBlock, Any] | None) -> ToolCall:
    if outcome is None:
        return ToolCall(
            tool_use_id=use.id,
            name=use.name,
            input=use.input,
            is_error=True,
            output="(no result: the query ended before the tool finished)",
        )
    block, raw = outcome
    output = _content_text(block.content)
    is_error = bool(block.is_error)
    exit_code = bash_exit_code(is_error=is_error, output=output, raw=raw) if use.name == "Bash" else None
    return ToolCall(
        tool_use_id=use.id, name=use.name, input=use.input, output=_tail(output), is_error=is_error, exit_code=exit_code
    )


def _content_text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))


def _tail(text: str, limit: int = OUTPUT_TAIL) -> str:
    return text if len(text) <= limit else "[...]" + text[-limit:]


def usage_from(data: Mapping[str, Any]) -> Usage:
    return Usage.from_record(
        data,
        input_tokens="input_tokens",
        output_tokens="output_tokens",
        cache_read_tokens="cache_read_input_tokens",
        cache_creation_tokens="cache_creation_input_tokens",
    )


def result_error(result: ResultMessage, max_turns: int) -> str:
    """Why the CLI ended the turn with an error, in words the orchestrator can act on."""
    detail = "; ".join(result.errors or []) or (result.result or "").strip() or result.subtype
    status = result.api_error_status
    if result.subtype == "error_max_turns":
        return f"turn limit {max_turns} reached"
    if status in (401, 403):
        return (
            f"the model API refused the credential (HTTP {status}): {detail}; check ANTHROPIC_API_KEY, "
            "ANTHROPIC_AUTH_TOKEN or CLAUDE_CODE_OAUTH_TOKEN"
        )
    if status is not None:
        return f"the model API failed (HTTP {status}): {detail}"
    return f"Claude Code ended the turn with an error ({result.subtype}): {detail}"


# --- files and processes ------------------------------------------------------------------------------


def transcript(config: Path, session_id: str) -> Path | None:
    """The CLI's transcript of a session: ``<CLAUDE_CONFIG_DIR>/projects/<folder per cwd>/<id>.jsonl``."""
    return next(iter(sorted(config.glob(f"projects/*/{session_id}.jsonl"))), None)


def restored_cost(config: Path, session_id: str) -> float:
    """The cumulative cost a resumed CLI starts from: the last ``cost-state`` line of the transcript.

    The CLI writes that line when it exits cleanly and restores it on resume (after a kill there is none
    newer, and it restores the older one or 0). Knowing it lets the first query after a resume be charged
    only for itself.
    """
    path = transcript(config, session_id)
    if path is None:
        return 0.0
    cost = 0.0
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if '"cost-state"' not in line:
                continue
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("type") == "cost-state" and isinstance(entry.get("totalCostUSD"), (int, float)):
                    cost = float(entry["totalCostUSD"])
    return cost


def without_secrets(result: AgentResult, secrets: tuple[str, ...]) -> AgentResult:
    """The result with every secret (and every known token shape) masked in the text, the error and each
    tool call's input and output, before it reaches the engine's log, checkpoint or any comment."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, secrets)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    calls = tuple(c.model_copy(update={"input": clean(c.input), "output": clean(c.output)}) for c in result.tool_calls)
    return result.model_copy(update={"text": clean(result.text), "error": clean(result.error), "tool_calls": calls})
