"""The OpenAI Codex CLI as an agent backend (``backend: codex``): npm ``@openai/codex``, pinned.

Each query runs ``codex exec --json`` in the agent's checkout (``exec --json ... resume <id>`` for every
query after the first), with ``CODEX_HOME`` under the agent's private HOME: kodo-bot writes its
``config.toml`` there, with the role prompt as ``developer_instructions`` and, when kodo-bot's environment
has ``OPENAI_BASE_URL``, a ``model_providers.kodo`` entry (``base_url``, ``wire_api = "responses"``) that
points the CLI at it (the scripted model server speaks the Responses API). Approvals and Codex's own
sandbox are off: kodo-bot confines the whole CLI itself (``kodo_bot.confine``).

A verifier (``isolated``) must not be configured or instructed by the commit it judges. Codex loads a
project's ``.codex/`` (its ``config.toml`` with MCP servers, approvals and sandbox; its hooks and command
rules) only for a project trusted in ``CODEX_HOME``'s config, which kodo-bot never writes, so no agent's CLI
reads them. What it reads from any project: ``AGENTS.md`` (and ``AGENTS.override.md``), which
``project_doc_max_bytes = 0`` turns off for a verifier, and the skills under ``.agents/skills`` and
``.codex/skills``, whose descriptions it lists to the model, which ``[skills] include_instructions = false``
turns off. Measured with 0.169.0 (``tests/test_codex_e2e.py``).

Its JSON events carry what the evidence needs: a ``command_execution`` item's ``exit_code`` is the status
the CLI saw. The command comes as the CLI ran it (``/bin/bash -lc '<command>'``); kodo-bot keeps the inner
command, which is what a verifier claims. Turns are counted from the items: a message or a tool call after a
tool result starts one (tool calls a model makes at once count one each, so a limit can end a few turns
early, never late). The conversation id is the ``thread_id`` of ``thread.started``; the CLI keeps the thread
under ``CODEX_HOME/sessions`` (its rollout file), which is what a resume needs.

Credential: ``OPENAI_API_KEY`` (or ``CODEX_API_KEY``) from kodo-bot's environment, masked in results and in
the rollout files. A ChatGPT-plan login (``codex login``) lives in the user's own ``~/.codex``, which agents
never see; give such runs an API key instead. An API key is billed per token, so Codex's cost (its tokens
at OpenAI's API prices) goes to the ``api`` bucket and counts against ``--max-cost-usd``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from kodo_bot.agents._cli_session import Stream, tail
from kodo_bot.engine.models import ToolCall, Usage

VERSION = "0.169.0"
PACKAGE = "@openai/codex"
KEYS = ("OPENAI_API_KEY", "CODEX_API_KEY")
DEFAULT_MODEL = "gpt-5-codex"
#: USD per million tokens (input, cached input, output)
_PRICES = {"gpt-5-codex": (1.25, 0.125, 10.0), "gpt-5": (1.25, 0.125, 10.0), "gpt-5-mini": (0.25, 0.025, 2.0)}
_SETTINGS = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")
_TOOLS = ("command_execution", "file_change", "mcp_tool_call", "web_search")


class CodexCli:
    """The ``Flavor`` of the Codex CLI (``kodo_bot.agents._cli_session``)."""

    backend = "codex"
    title = "Codex CLI"
    keys_bill_per_token = True

    def __init__(self, parent_env: Mapping[str, str], cwd: Path | None = None, *, isolated: bool = False) -> None:
        self._parent = parent_env
        #: a verifier: the checkout's AGENTS.md (the commit under review) must not instruct it
        self._isolated = isolated
        self._cwd = cwd.resolve() if cwd is not None else None

    def argv(self, prompt: str, *, session_id: str, resume: bool, model: str | None) -> list[str]:
        options = ["exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox"]
        options += ["-m", model or DEFAULT_MODEL]
        return [*options, "resume", session_id, prompt] if resume else [*options, prompt]

    def prepare(self, home: Path, system_prompt: str) -> dict[str, str]:
        codex_home = home / "codex"
        codex_home.mkdir(parents=True, exist_ok=True)
        lines = [f"developer_instructions = {json.dumps(system_prompt)}"]
        if self._isolated:
            lines.append("project_doc_max_bytes = 0")
        base_url = self._parent.get("OPENAI_BASE_URL")
        if base_url:
            lines = ['model_provider = "kodo"', *lines, "", "[model_providers.kodo]", 'name = "kodo"',
                     f"base_url = {json.dumps(base_url)}", 'env_key = "OPENAI_API_KEY"', 'wire_api = "responses"',
                     f"request_max_retries = {int(self._parent.get('KODO_CODEX_RETRIES', '4'))}",
                     f"stream_max_retries = {int(self._parent.get('KODO_CODEX_RETRIES', '4'))}"]  # fmt: skip
        if self._isolated:
            lines += ["", "[skills]", "include_instructions = false"]
        (codex_home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        key = next((self._parent[k] for k in KEYS if self._parent.get(k)), "")
        env = {k: self._parent[k] for k in _SETTINGS if self._parent.get(k)}
        return {**env, "OPENAI_API_KEY": key, "CODEX_HOME": str(codex_home)}

    def credentials(self, env: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(v for k, v in env.items() if k in KEYS and v)

    def session_files(self, home: Path) -> list[Path]:
        return sorted((home / "codex" / "sessions").glob("**/rollout-*.jsonl"))

    def project_config(self, cwd: Path) -> list[Path]:
        return []  # a verifier's CLI is told to ignore the project's (see the module's docstring)

    def has_conversation(self, home: Path, session_id: str) -> bool:
        return any((home / "codex" / "sessions").glob(f"**/rollout-*-{session_id}.jsonl"))

    def read(self, event: dict[str, Any], stream: Stream) -> None:
        kind = event.get("type")
        item: dict[str, Any] = event["item"] if isinstance(event.get("item"), dict) else {}
        if kind == "thread.started" and isinstance(event.get("thread_id"), str):
            stream.session_id = event["thread_id"]
        elif kind == "item.started" and item.get("type") in _TOOLS:
            stream.model_speaks()
            stream.calls[str(item.get("id"))] = _tool_call(item)
            stream.tool_event = (str(item.get("id")), True)
        elif kind == "item.completed" and item.get("type") in _TOOLS:
            _completed(item, stream)
        elif kind == "item.completed" and item.get("type") == "agent_message":
            stream.model_speaks()
            stream.text = f"{stream.text}\n{item.get('text', '')}" if stream.text else str(item.get("text", ""))
        elif kind == "turn.completed":
            stream.done = True
            stream.usage += Usage.from_record(
                event.get("usage") or {},
                input_tokens="input_tokens",
                output_tokens="output_tokens",
                cache_read_tokens="cached_input_tokens",
            )
        elif kind == "turn.failed":
            stream.done = True
            stream.error = f"Codex CLI ended the task with an error: {(event.get('error') or {}).get('message')}"
        elif kind == "error":
            stream.error = stream.error or f"Codex CLI: {event.get('message')}"

    def finish(self, home: Path, stream: Stream) -> None:
        if stream.done and stream.error and stream.error.startswith("Codex CLI: "):
            stream.error = None  # a stream hiccup the CLI recovered from (it retries and says so)
        self._where_they_ran(home, stream)

    def _where_they_ran(self, home: Path, stream: Stream) -> None:
        """A command the model ran in another ``workdir`` shows as ``cd <dir> && <command>``, which a
        verifier's claim of the bare command does not match. The JSON events do not say where a command ran;
        the CLI's rollout file does (``CommandExecution`` items, in the order the events gave them)."""
        shells = [(i, c) for i, c in stream.calls.items() if c.name == "Bash"]
        if not shells or stream.session_id is None or self._cwd is None:
            return
        paths = sorted((home / "codex" / "sessions").glob(f"**/rollout-*-{stream.session_id}.jsonl"))
        ran = executed(paths[-1]) if paths else []
        for (tool_id, call), (command, where) in zip(shells, ran[-len(shells) :], strict=False):
            if command == call.command and where is not None and where != self._cwd:
                moved = {**call.input, "command": f"cd {shlex.quote(str(where))} && {command}"}
                stream.calls[tool_id] = call.model_copy(update={"input": moved})

    def cost(self, usage: Usage, model: str | None) -> float:
        inp, cached, out = _PRICES.get(model or DEFAULT_MODEL, _PRICES[DEFAULT_MODEL])
        fresh = max(0, usage.input_tokens - usage.cache_read_tokens)
        return (fresh * inp + usage.cache_read_tokens * cached + usage.output_tokens * out) / 1_000_000


def inner_command(command: str) -> str:
    """``/bin/bash -lc 'pytest -q'`` -> ``pytest -q``: the command as the model asked for it."""
    try:
        words = shlex.split(command)
    except ValueError:
        return command
    if len(words) == 3 and Path(words[0]).name in ("bash", "sh", "zsh") and words[1] in ("-lc", "-c"):
        return words[2]
    return command


def _tool_call(item: dict[str, Any]) -> ToolCall:
    tool_id = str(item.get("id"))
    if item.get("type") == "command_execution":
        command = inner_command(str(item.get("command") or ""))
        return ToolCall(tool_use_id=tool_id, name="Bash", input={"command": command, "cli_tool": "exec_command"})
    return ToolCall(tool_use_id=tool_id, name=str(item.get("type")), input={k: v for k, v in item.items() if k != "id"})


def _completed(item: dict[str, Any], stream: Stream) -> None:
    tool_id = str(item.get("id"))
    call = stream.calls.get(tool_id) or _tool_call(item)
    failed = item.get("status") == "failed"
    code = item.get("exit_code")
    update: dict[str, Any] = {"is_error": failed, "output": tail(str(item.get("aggregated_output") or ""))}
    if call.name == "Bash":
        update["exit_code"] = code if isinstance(code, int) else None
    stream.calls[tool_id] = call.model_copy(update=update)
    stream.in_turn = False
    stream.tool_event = (tool_id, False)


def executed(rollout: Path) -> list[tuple[str, Path | None]]:
    """Each command the rollout file records as run: (the inner command, the directory it ran in)."""
    found: list[tuple[str, Path | None]] = []
    try:
        lines = rollout.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return found
    for line in lines:
        if '"CommandExecution"' not in line:
            continue
        try:
            item = (json.loads(line).get("payload") or {}).get("item") or {}
        except (ValueError, AttributeError):
            continue
        if item.get("type") != "CommandExecution":
            continue
        argv = item.get("command")
        command = shlex.join(argv) if isinstance(argv, list) else str(argv or "")
        cwd = str(item.get("cwd") or "")
        where = Path(unquote(urlsplit(cwd).path)).resolve() if cwd.startswith("file://") else None
        found.append((inner_command(command), where))
    return found
