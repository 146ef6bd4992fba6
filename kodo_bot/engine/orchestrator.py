"""What the orchestrator is told: its system prompt, its tools, each cycle's first message, agents' results.

It sees one delegation tool per agent and ``done(summary, success)``. These are pure functions; the model
that answers is behind the ``Orchestrator`` port (``engine/ports.py``), and the run loop runs the tools.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kodo_bot.engine.models import AgentResult, Steering
from kodo_bot.engine.ports import role_marker
from kodo_bot.engine.team import Team

DONE_TOOL = "done"
DELEGATE_PREFIX = "delegate_"

SYSTEM_PROMPT = """\
{marker}

You are the orchestrator of a kodo-bot team of coding agents working in a git repository. You do not edit
files yourself: you direct the agents through your tools, one tool per agent. Give each agent a complete,
self-contained task (it does not see this conversation). Several tool calls in one reply run at the same
time: use that for independent work.

Work in cycles. The engine commits the repository at the end of every cycle. When the goal is fully met and
tested, call `done` with success=true and a summary of what changed and why: independent verifiers then check
the committed work in a clean checkout and either accept it or send their findings back to you in the next
cycle. Call `done` with success=false only if the goal cannot be reached; say what is left.

Your team:
{team}
"""


def system_prompt(team: Team) -> str:
    lines = [f"- {DELEGATE_PREFIX}{a.name}: {a.description or a.prompt.splitlines()[0]}" for a in team.agents.values()]
    return SYSTEM_PROMPT.format(marker=role_marker("orchestrator"), team="\n".join(lines))


def tools(team: Team) -> list[dict[str, Any]]:
    """One delegation tool per agent, plus ``done``."""
    out: list[dict[str, Any]] = [
        {
            "name": f"{DELEGATE_PREFIX}{agent.name}",
            "description": f"Give the {agent.name} agent a task. {agent.description}".strip(),
            "input_schema": {
                "type": "object",
                "properties": {
                    "task": {"type": "string", "description": "A complete, self-contained task."},
                    "fresh": {
                        "type": "boolean",
                        "description": "Start a new conversation with this agent instead of continuing it.",
                    },
                },
                "required": ["task"],
            },
        }
        for agent in team.agents.values()
    ]
    out.append(
        {
            "name": DONE_TOOL,
            "description": "End the cycle: success=true sends the committed work to independent verification.",
            "input_schema": {
                "type": "object",
                "properties": {
                    "summary": {"type": "string", "description": "What changed and why."},
                    "success": {"type": "boolean"},
                },
                "required": ["summary", "success"],
            },
        }
    )
    return out


#: how much new input from people one cycle's first message carries
STEERING_TEXT_LIMIT = 20_000


def cycle_seed(
    goal: str,
    *,
    cycle: int,
    max_cycles: int,
    previous: str | None,
    rejection: str | None,
    notes: Sequence[str] = (),
    steering: Sequence[Steering] = (),
) -> str:
    """The first message of a cycle. Only the goal, the last summary, the last rejection, what the engine had
    to undo or withhold, and new input from people carry over, so the orchestrator's context stays the same
    size however many cycles run."""
    parts = [f"# Goal\n{goal.strip()}", f"# Cycle {cycle} of at most {max_cycles}"]
    if previous:
        parts.append(f"# Where the previous cycle ended\n{previous.strip()}")
    if steering:
        said = "\n\n".join(s.text.strip() for s in steering)
        if len(said) > STEERING_TEXT_LIMIT:  # bounded context, whatever people paste
            said = said[:STEERING_TEXT_LIMIT] + "\n[... cut: the rest is in the goal's source]"
        parts.append(f"# New input from people since the last cycle\nAddress it in this cycle.\n\n{said}")
    if notes:
        listed = "\n".join(f"- {note}" for note in notes)
        parts.append(f"# What kodo-bot had to undo or keep out of the commits\n{listed}")
    if rejection:
        parts.append(
            f"# Verification rejected the last attempt\nFix these, then call done again.\n\n{rejection.strip()}"
        )
    return "\n\n".join(parts)


#: how much of an agent's final text the orchestrator is shown
RESULT_TEXT_LIMIT = 6000


def tool_result(tool_use_id: str, text: str, is_error: bool) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": text, "is_error": is_error}


def describe_result(result: AgentResult) -> str:
    """An agent's result as the orchestrator reads it: bounded, with the commands it was seen to run."""
    head = f"{result.agent} finished after {result.turns} turns"
    if result.is_error:
        head += f", with an error: {result.error or 'unknown'}"
    text = result.text.strip()
    if len(text) > RESULT_TEXT_LIMIT:
        text = text[:RESULT_TEXT_LIMIT] + "\n[... cut]"
    lines = [head + ".", text]
    commands = result.commands[-10:]
    if commands:
        lines.append("Commands observed:\n" + "\n".join(f"- `{c.command}` -> exit {c.exit_code}" for c in commands))
    return "\n\n".join(x for x in lines if x)
