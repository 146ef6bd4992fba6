"""The CLI's tool hooks for one session: kodo-bot's turn gate, and the checkout watch's records.

Claude Code calls a PreToolUse hook before every tool and waits for its answer, and a PostToolUse (or
PostToolUseFailure) hook after. ``ToolHooks`` uses the first to refuse any tool past the turn limit (counted
by kodo-bot from the stream, not trusted to the CLI), and both to ask the checkout watch what the tool is
about to run on and what it left behind. It records into the running query's ``QueryProgress``; between
queries it does nothing.

It deliberately does not interrupt the turn or end the process: the session's query loop does, once the
stream shows the limit passed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from claude_agent_sdk import HookContext, HookInput, HookJSONOutput, HookMatcher
from claude_agent_sdk.types import HookEvent

from kodo_bot.agents._claude_stream import QueryProgress

#: how long the gate waits for the tool_use it is asked about to show up in the stream
_GRACE_S = 3.0


class ToolHooks:
    """PreToolUse and PostToolUse(Failure) hooks for the query ``current()`` returns (None between queries).

    ``watch``, when given, is called just before and just after every tool; its answers are recorded as
    the tool call's ``checkout_before`` and ``checkout_after``.
    """

    def __init__(self, current: Callable[[], QueryProgress | None], watch: Callable[[], str] | None) -> None:
        self._current = current
        self._watch = watch

    def matchers(self) -> dict[HookEvent, list[HookMatcher]]:
        return {
            "PreToolUse": [HookMatcher(hooks=[self.before_tool])],
            "PostToolUse": [HookMatcher(hooks=[self.after_tool])],
            "PostToolUseFailure": [HookMatcher(hooks=[self.after_tool])],
        }

    async def before_tool(self, hook_input: HookInput, tool_use_id: str | None, context: HookContext) -> HookJSONOutput:
        """Refuse any tool requested past the turn limit, and stop the turn.

        The hook may run before the reader has seen the message that asked for the tool, so it waits
        (briefly) for that tool_use to be observed before deciding which turn it belongs to.
        """
        run = self._current()
        if run is None or tool_use_id is None:
            return {}
        if self._watch is not None:
            # The tool waits for this hook, so what the watch sees is the checkout the tool will run on.
            run.checkout_before[tool_use_id] = await asyncio.to_thread(self._watch)
        turn = await run.turn_of(tool_use_id, _GRACE_S)
        if not run.stopping and (turn if turn is not None else run.turns) <= run.limit:
            return {}
        return _refusal(f"kodo-bot: turn limit {run.limit} reached")

    async def after_tool(self, hook_input: HookInput, tool_use_id: str | None, context: HookContext) -> HookJSONOutput:
        """What the tool left in a watched checkout."""
        run = self._current()
        if run is not None and tool_use_id is not None and self._watch is not None:
            run.checkout_after[tool_use_id] = await asyncio.to_thread(self._watch)
        return {}


def _refusal(reason: str) -> HookJSONOutput:
    """A PreToolUse answer that denies the tool and ends the turn."""
    return {
        "continue_": False,
        "stopReason": reason,
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        },
    }
