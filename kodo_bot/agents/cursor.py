"""Cursor's ``cursor-agent`` as an agent backend (``backend: cursor``), built to Cursor's documented
headless output (``--output-format stream-json``, https://cursor.com/docs/cli/reference/output-format).

NOT run against the real binary here: ``cursor-agent`` is installed by a script from cursor.com, not from a
package registry, and talks only to Cursor's own service, which cannot be pointed at a local server. The
tests drive this backend with a stand-in (``tests/cursor_standin.py``) that replays recorded streams in the
documented format, so what is proven is the reading of that format, the limits and the process handling,
not the real CLI's behaviour.

Each query runs ``cursor-agent -p --output-format stream-json --force`` in the agent's checkout (with
``--resume <chat id>`` for every query after the first). The CLI takes no system prompt, so the role prompt
opens the first task of a conversation. Events: ``system``/``init`` (the chat id), ``assistant`` (a whole
message segment), ``tool_call`` ``started``/``completed`` (one key per tool: ``shellToolCall`` with
``args.command`` and a ``result`` of ``success`` or ``failure`` carrying ``exitCode``, ``stdout``,
``stderr``; ``writeToolCall``, ``readToolCall``, ``function`` ...), and ``result`` (``is_error``, the final
text, ``usage`` when the CLI reports it). Credential: ``CURSOR_API_KEY``, masked in what comes back.

A verifier (``isolated``) must not be configured or instructed by the commit it judges, and ``cursor-agent``
has no option to ignore a project's rules and settings: the verifier's sandbox hides them from it
(``project_config``; without the sandbox, a checkout that has any fails the call rather than let them in).
The verifier still reads them in the commit with ``git show``.
Cursor bills its key to the account's plan, so its cost goes to the ``subscription`` bucket, as 0 (its
stream reports no price, and kodo-bot knows none).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kodo_bot.agents._cli_session import Stream, tail
from kodo_bot.engine.models import ToolCall, Usage

KEYS = ("CURSOR_API_KEY",)
#: what Cursor's agent takes instructions, permissions, MCP servers, hooks or skills from in a project, in any
#: folder of it (rules, ``cli.json``, ``mcp.json``, ``hooks.json``; ``AGENTS.md``), and other agents' files it
#: documents reading (``CLAUDE.md``, skills folders). Not measured: the CLI cannot run here, so the list errs
#: wide, and a verifier's sandbox hides all of it.
_PROJECT_CONFIG = frozenset({".cursor", ".cursorrules", "AGENTS.md", "CLAUDE.md", ".claude", ".agents", ".codex"})
_SETTINGS = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")


class CursorCli:
    """The ``Flavor`` of Cursor's ``cursor-agent`` (``kodo_bot.agents._cli_session``)."""

    backend = "cursor"
    title = "Cursor CLI"
    #: a Cursor API key draws on the account's plan, not a per-token bill
    keys_bill_per_token = False

    def __init__(self, parent_env: Mapping[str, str], *, isolated: bool = False) -> None:
        self._parent = parent_env
        self._role = ""
        #: a verifier: nothing in the checkout (the commit under review) may configure or instruct it
        self._isolated = isolated

    def argv(self, prompt: str, *, session_id: str, resume: bool, model: str | None) -> list[str]:
        options = ["-p", "--output-format", "stream-json", "--force", *(["--model", model] if model else [])]
        if resume:
            return [*options, "--resume", session_id, prompt]
        return [*options, f"{self._role}\n\n---\n\n{prompt}" if self._role else prompt]

    def prepare(self, home: Path, system_prompt: str) -> dict[str, str]:
        self._role = system_prompt
        key = next((self._parent[k] for k in KEYS if self._parent.get(k)), "")
        return {**{k: self._parent[k] for k in _SETTINGS if self._parent.get(k)}, "CURSOR_API_KEY": key}

    def credentials(self, env: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(v for k, v in env.items() if k in KEYS and v)

    def session_files(self, home: Path) -> list[Path]:
        return []  # its chats are SQLite stores; nothing kodo-bot can mask in place

    def project_config(self, cwd: Path) -> list[Path]:
        if not self._isolated:
            return []
        found = []
        for top, dirs, files in os.walk(cwd):
            found += [Path(top, name) for name in sorted({*dirs, *files} & _PROJECT_CONFIG)]
            dirs[:] = [d for d in dirs if d not in _PROJECT_CONFIG and d != ".git"]
        return found

    def has_conversation(self, home: Path, session_id: str) -> bool:
        return any(p.is_dir() for p in (home / ".cursor" / "chats").glob(f"*/{session_id}"))

    def read(self, event: dict[str, Any], stream: Stream) -> None:
        kind = event.get("type")
        if isinstance(event.get("session_id"), str) and event["session_id"]:
            stream.session_id = event["session_id"]
        if kind == "assistant":
            stream.model_speaks()
            said = _text((event.get("message") or {}).get("content"))
            stream.text = f"{stream.text}{said}"
        elif kind == "tool_call":
            _tool_event(event, stream)
        elif kind == "result":
            stream.done = True
            stream.usage = Usage.from_record(
                event.get("usage") or {},
                input_tokens=("inputTokens", "input_tokens"),
                output_tokens=("outputTokens", "output_tokens"),
                cache_read_tokens=("cacheReadTokens", "cache_read_tokens"),
            )
            if event.get("is_error") or event.get("subtype") not in (None, "success"):
                stream.error = f"Cursor CLI ended the task with an error: {event.get('result') or event.get('subtype')}"
            elif isinstance(event.get("result"), str) and event["result"].strip() and not stream.text:
                stream.text = event["result"]

    def finish(self, home: Path, stream: Stream) -> None:
        return None

    def cost(self, usage: Usage, model: str | None) -> float:
        return 0.0


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(str(p.get("text", "")) for p in content or [] if isinstance(p, dict) and p.get("type") == "text")


def _tool_event(event: dict[str, Any], stream: Stream) -> None:
    tool_id = str(event.get("call_id") or "")
    payload = event.get("tool_call") or {}
    kind, body = next(iter(payload.items()), ("unknown", {}))
    body = body if isinstance(body, dict) else {}
    if event.get("subtype") == "started":
        stream.model_speaks()
        stream.calls[tool_id] = _call(tool_id, kind, body)
        stream.tool_event = (tool_id, True)
        return
    call = stream.calls.get(tool_id) or _call(tool_id, kind, body)
    result = body.get("result") or {}
    failed = "failure" in result or "error" in result
    outcome = result.get("success") or result.get("failure") or result.get("error") or {}
    outcome = outcome if isinstance(outcome, dict) else {"message": str(outcome)}
    update: dict[str, Any] = {"is_error": failed, "output": tail(_output(outcome))}
    if call.name == "Bash":
        code = outcome.get("exitCode")
        update["exit_code"] = code if isinstance(code, int) else None
    stream.calls[tool_id] = call.model_copy(update=update)
    stream.in_turn = False
    stream.tool_event = (tool_id, False)


def _call(tool_id: str, kind: str, body: dict[str, Any]) -> ToolCall:
    args: dict[str, Any] = body["args"] if isinstance(body.get("args"), dict) else {}
    if kind == "shellToolCall":
        command = str(args.get("command") or "")
        where = args.get("workingDirectory")
        if isinstance(where, str) and where.strip() not in ("", "."):
            command = f"cd {where} && {command}"
        return ToolCall(tool_use_id=tool_id, name="Bash", input={"command": command, "cli_tool": kind})
    if kind == "function":
        return ToolCall(
            tool_use_id=tool_id, name=str(body.get("name") or kind), input={"arguments": body.get("arguments")}
        )
    return ToolCall(tool_use_id=tool_id, name=kind, input=dict(args))


def _output(outcome: dict[str, Any]) -> str:
    if "stdout" in outcome or "stderr" in outcome:
        return "\n".join(str(outcome.get(k) or "") for k in ("stdout", "stderr") if outcome.get(k))
    for key in ("content", "message", "path"):
        if outcome.get(key):
            return str(outcome[key])
    return ""
