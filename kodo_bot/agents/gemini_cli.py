"""The Gemini CLI as an agent backend (``backend: gemini_cli``): npm ``@google/gemini-cli``, pinned.

Each query runs ``gemini -p <task> -o stream-json -y`` in the agent's checkout, with HOME the agent's
private folder (``.gemini/settings.json`` there selects the API key, turns off telemetry and usage
statistics), the role prompt as the CLI's whole system prompt (``GEMINI_SYSTEM_MD``) and
``--session-id``/``--resume`` naming the conversation, which the CLI keeps under HOME.

Evidence. The stream's ``tool_result`` says ``success`` for a shell command whatever its exit status (the
CLI reports the tool's success, not the command's). The exit status is in what the CLI's shell tool wrote
for the model, which the CLI records in its own session file (``~/.gemini/tmp/<project>/chats/*.jsonl``,
each tool call by the id the stream gave it): ``Output: <output>`` followed by lines the CLI appends after
the output, ``Exit Code: N`` when N is not 0 and ``Process Group PGID: P`` always for a command that ran.
``shell_exit_code`` reads that tail from the bottom, so a command cannot print its way to a 0: the CLI's own
``Exit Code`` line comes after anything it printed. (Printing a fake non-zero status only hurts itself.)

Credentials: ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) from kodo-bot's environment, the only secret the
CLI gets; the agent can read it, so it is masked in results and in the session files. A key is billed per
token (a Google login, which would bill a plan, lives in the user's own ``~/.gemini``, never given to agents),
so the CLI's cost, at the Gemini API's prices, goes to the ``api`` bucket and counts against
``--max-cost-usd``. Base URL:
``GOOGLE_GEMINI_BASE_URL`` (the scripted model server speaks the Gemini API).

A verifier (``isolated``) must not be configured by the commit it judges, as a Claude Code one loads no
settings. A worker runs the CLI in a trusted folder (``--skip-trust``), so it reads the project's
``GEMINI.md``. A verifier's folder is untrusted (``GEMINI_CLI_TRUST_WORKSPACE=false``, which the CLI checks
before any setting): the CLI then ignores the checkout's ``.gemini/settings.json`` (tools, hooks, MCP servers,
policies, approvals), its ``.env`` files, ``GEMINI.md`` files and project skills, and runs no project hook.
Untrusted, the CLI would refuse to run headless, force approvals on and ask before git or ``rm -rf``
commands; the verifier's HOME settings turn the folder-trust prompt off (which would also load the project's
subagents, so agents are off too), and a user-tier policy (``~/.gemini/policies/kodo.toml``) allows every
tool call, as ``-y`` does for a worker. The commit's ``.geminiignore`` does not hide files from its tools
either. Measured with 0.61.0 (``tests/test_gemini_cli_e2e.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kodo_bot.agents._cli_session import Stream, tail
from kodo_bot.engine.models import ToolCall, Usage

#: the version kodo-bot is built and tested against (``.ci/run`` installs it)
VERSION = "0.61.0"
PACKAGE = "@google/gemini-cli"
#: variables the CLI authenticates with, in the order they are looked for in kodo-bot's environment
KEYS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
#: settings the CLI reads from the environment, passed on when set
_SETTINGS = ("GOOGLE_GEMINI_BASE_URL", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")
DEFAULT_MODEL = "gemini-2.5-flash"
#: USD per million tokens (input, output), for the subscription bucket's "what it would cost at API prices"
_PRICES = {"gemini-2.5-pro": (1.25, 10.0), "gemini-2.5-flash": (0.30, 2.50), "gemini-2.5-flash-lite": (0.10, 0.40)}
_SHELL = "run_shell_command"
#: a verifier's settings besides a worker's: run headless in an untrusted folder (no prompt), without the
#: project's subagents (loaded whenever the prompt is off), its ``.geminiignore`` or its local ``.env``
_UNTRUSTED_FOLDER: dict[str, dict[str, Any]] = {
    "security": {"folderTrust": {"enabled": False}},
    "experimental": {"enableAgents": False},
    "context": {"fileFiltering": {"respectGeminiIgnore": False}},
    "advanced": {"ignoreLocalEnv": True},
}
#: a verifier's approvals: every tool call allowed, at the user tier (an untrusted folder loads no project
#: policy). A rule with an ``argsPattern`` skips the CLI's extra questions about git and ``rm -rf`` commands
#: in untrusted folders, and ``allowRedirection`` its question about ``>``; headless, a question is a refusal.
_ALLOW_EVERY_TOOL = r"""[[rule]]
toolName = "*"
argsPattern = '[\s\S]*'
decision = "allow"
allowRedirection = true
priority = 999
"""
_TRAILER = re.compile(r"^(Error|Exit Code|Signal|Background PIDs|Process Group PGID): ")


class GeminiCli:
    """The ``Flavor`` of the Gemini CLI (``kodo_bot.agents._cli_session``)."""

    backend = "gemini_cli"
    title = "Gemini CLI"
    keys_bill_per_token = True

    def __init__(self, parent_env: Mapping[str, str], *, isolated: bool = False) -> None:
        self._parent = parent_env
        #: a verifier: nothing in the checkout (the commit under review) may configure or instruct it
        self._isolated = isolated

    def argv(self, prompt: str, *, session_id: str, resume: bool, model: str | None) -> list[str]:
        conversation = ["--resume", session_id] if resume else ["--session-id", session_id]
        trust = [] if self._isolated else ["-y", "--skip-trust"]  # a verifier's tools are allowed by its policy
        return ["-p", prompt, "-o", "stream-json", "-m", model or DEFAULT_MODEL, *trust, *conversation]

    def prepare(self, home: Path, system_prompt: str) -> dict[str, str]:
        config = home / ".gemini"
        config.mkdir(parents=True, exist_ok=True)
        settings: dict[str, dict[str, Any]] = {
            "security": {"auth": {"selectedType": "gemini-api-key"}},
            "privacy": {"usageStatisticsEnabled": False},
            "telemetry": {"enabled": False},
        }
        if self._isolated:
            settings = {key: {**settings.get(key, {}), **more} for key, more in (settings | _UNTRUSTED_FOLDER).items()}
            (config / "policies").mkdir(exist_ok=True)
            (config / "policies" / "kodo.toml").write_text(_ALLOW_EVERY_TOOL, encoding="utf-8")
        (config / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
        system = home / "kodo-system.md"
        system.write_text(system_prompt, encoding="utf-8")
        key = next((self._parent[k] for k in KEYS if self._parent.get(k)), "")
        env = {k: self._parent[k] for k in _SETTINGS if self._parent.get(k)}
        env |= {"GEMINI_CLI_HOME": str(home), "GEMINI_SYSTEM_MD": str(system), "GEMINI_CLI_NO_RELAUNCH": "1"}
        if self._isolated:
            env["GEMINI_CLI_TRUST_WORKSPACE"] = "false"
        return {**env, "GEMINI_API_KEY": key}

    def credentials(self, env: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(v for k, v in env.items() if k in KEYS and v)

    def session_files(self, home: Path) -> list[Path]:
        return sorted((home / ".gemini" / "tmp").glob("*/chats/session-*.jsonl"))

    def project_config(self, cwd: Path) -> list[Path]:
        return []  # a verifier's CLI is told to ignore the project's (see the module's docstring)

    def has_conversation(self, home: Path, session_id: str) -> bool:
        for path in (home / ".gemini" / "tmp").glob(f"*/chats/session-*-{session_id[:8]}.jsonl"):
            first = path.read_text(encoding="utf-8", errors="replace").split("\n", 1)[0]
            if f'"{session_id}"' in first:
                return True
        return False

    def read(self, event: dict[str, Any], stream: Stream) -> None:
        kind = event.get("type")
        if kind == "init" and isinstance(event.get("session_id"), str):
            stream.session_id = event["session_id"]
        elif kind == "message" and event.get("role") == "assistant":
            stream.model_speaks()
            stream.text += str(event.get("content") or "")
        elif kind == "tool_use":
            stream.model_speaks()
            tool_id = str(event.get("tool_id") or "")
            stream.calls[tool_id] = _tool_call(tool_id, str(event.get("tool_name")), event.get("parameters") or {})
            stream.tool_event = (tool_id, True)
        elif kind == "tool_result":
            _tool_result(event, stream)
        elif kind == "result":
            stream.done = True
            stats = event.get("stats") or {}
            stream.usage = Usage.from_record(
                stats, input_tokens="input_tokens", output_tokens="output_tokens", cache_read_tokens="cached"
            )
            if event.get("status") == "error":
                detail = event.get("error") or {}
                stream.error = (
                    f"Gemini CLI ended the task with an error: {detail.get('message') or detail or 'unknown'}"
                )
        elif kind == "error":
            stream.error = f"Gemini CLI: {event.get('message') or event}"

    def finish(self, home: Path, stream: Stream) -> None:
        """Each shell call's exit status, from the CLI's session file (see the module's docstring)."""
        wanted = {i for i, c in stream.calls.items() if c.name == "Bash"}
        if not wanted:
            return
        found = recorded_shell_outputs(self.session_files(home), wanted)
        for tool_id, text in found.items():
            call = stream.calls[tool_id]
            stream.calls[tool_id] = call.model_copy(update={"exit_code": shell_exit_code(text)})

    def cost(self, usage: Usage, model: str | None) -> float:
        inp, out = _PRICES.get(model or DEFAULT_MODEL, _PRICES[DEFAULT_MODEL])
        return (usage.input_tokens * inp + usage.output_tokens * out) / 1_000_000


def _tool_call(tool_id: str, name: str, params: dict[str, Any]) -> ToolCall:
    """A shell call as ``Bash`` (the engine's evidence rules read ``Bash`` calls), run where the CLI ran it:
    a ``dir_path`` other than the checkout shows as ``cd <dir> && <command>``, which a verifier's claim of
    the bare command does not match."""
    if name != _SHELL:
        return ToolCall(tool_use_id=tool_id, name=name, input=params)
    command = str(params.get("command") or "")
    where = params.get("dir_path")
    if isinstance(where, str) and where.strip() not in ("", "."):
        command = f"cd {where} && {command}"
    return ToolCall(tool_use_id=tool_id, name="Bash", input={"command": command, "cli_tool": _SHELL})


def _tool_result(event: dict[str, Any], stream: Stream) -> None:
    tool_id = str(event.get("tool_id") or "")
    stream.in_turn = False
    call = stream.calls.get(tool_id)
    if call is None:
        return
    error = event.get("error") or {}
    output = str(event.get("output") or error.get("message") or "")
    stream.calls[tool_id] = call.model_copy(update={"output": tail(output), "is_error": event.get("status") == "error"})
    stream.tool_event = (tool_id, False)


def recorded_shell_outputs(files: list[Path], wanted: set[str]) -> dict[str, str]:
    """What the CLI's shell tool told the model for each tool call id in ``wanted``, from its session files."""
    found: dict[str, str] = {}
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if '"toolCalls"' not in line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            for call in record.get("toolCalls") or []:
                if isinstance(call, dict) and call.get("id") in wanted:
                    found[call["id"]] = _response_text(call.get("result"))
    return found


def _response_text(parts: Any) -> str:
    for part in parts or []:
        response = (part or {}).get("functionResponse", {}).get("response") if isinstance(part, dict) else None
        if isinstance(response, dict):
            return str(response.get("output") or response.get("error") or "")
    return ""


def shell_exit_code(text: str) -> int | None:
    """A shell command's exit status from what the Gemini CLI's shell tool wrote for the model.

    ``Output: ...`` then the CLI's own lines: ``Error:`` (could not run), ``Exit Code: N`` (only when N is
    not 0), ``Signal:``, ``Background PIDs:``, ``Process Group PGID:`` (a command that ran). Read from the
    bottom: the CLI's lines come after anything the command printed. Cancelled, timed out, sent to the
    background, killed by a signal or not run: None.
    """
    body = text.strip().removeprefix("<untrusted_context>").removesuffix("</untrusted_context>").strip()
    if not body.startswith("Output: "):
        return None
    trailer = []
    for line in reversed(body.splitlines()[1:]):
        if not _TRAILER.match(line):
            break
        trailer.append(line)
    for line in trailer:  # bottom first: the CLI's own line is the lowest
        if line.startswith(("Signal: ", "Error: ")):
            return None
        if line.startswith("Exit Code: "):
            value = line.removeprefix("Exit Code: ").strip()
            return int(value) if value.lstrip("-").isdigit() else None
    return 0 if any(line.startswith("Process Group PGID: ") for line in trailer) else None
