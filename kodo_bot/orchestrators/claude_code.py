"""The orchestrator is Claude Code itself: a CLI session whose only tools are the team's delegation tools and
``done``, served by an in-process MCP server (claude-agent-sdk's SDK MCP server). It runs on the Claude Code
subscription the agents use, so a run needs no API key; its tokens go to the ``subscription`` bucket (to
``api`` when the CLI runs on an API key, which it then bills per token).

The engine drives every orchestrator the same way (``engine/ports.py``): it asks for a reply to the
conversation so far, runs the tool calls in it, and asks again with their results. Here the conversation
lives in the CLI, which runs its own loop, so the adapter turns it inside out:

- a reply is one model turn of the CLI: its text and its tool calls, complete when the model's message ends
  (the stream's ``message_stop``), returned with the CLI's own tool-use ids;
- the CLI calls the MCP tools as the turn streams in; each call waits until the engine, in its next request,
  brings the result of that tool use, which the call then returns to the CLI. The engine has every call of
  the turn at once, so delegations made in one turn run at the same time, whatever order the CLI calls the
  tools in;
- each cycle is a new conversation (the engine's bounded context): a new CLI session; the old one ends.

After ``kill -9`` the engine resumes with the conversation it saved, whose replies name the CLI session and
where its transcript lives: the adapter resumes that session (``--resume``) and hands it the results of
the calls the killed process was waiting on, which the engine answered from its journal where the
delegation had finished. If the transcript is gone, a new session is told the conversation so far.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kodo_bot.engine.models import Bucket, Usage
from kodo_bot.engine.ports import OrchestratorReply, RetryNotice, ToolUse
from kodo_bot.errors import AgentError, ModelAPIError

SERVER = "kodo"
PREFIX = f"mcp__{SERVER}__"
#: marks, in a reply's blocks, which CLI session said it and where its transcript is (a resume needs both)
SESSION_KEY, HOME_KEY = "claude_code_session", "claude_code_home"
_DAY_MS = str(24 * 3600 * 1000)
_RESUME_HINT = "the run is saved: fix the cause and continue it with `kodo-bot resume`."


@dataclass
class _Call:
    """One tool use of the CLI: what the engine returns for it, once it has run it."""

    id: str
    name: str
    input: dict[str, Any]
    result: asyncio.Future[tuple[str, bool]]
    claimed: bool = False


@dataclass
class _Turn:
    """The model's message being streamed: its blocks as they come, complete at ``message_stop``."""

    text: list[str] = field(default_factory=list)
    calls: list[_Call] = field(default_factory=list)
    expected_blocks: int = 0
    blocks: int = 0
    stopped: bool = False
    usage: Usage = field(default_factory=Usage)


class ClaudeCodeOrchestrator:
    """The ``Orchestrator`` port on a Claude Code CLI session."""

    fix = (
        "Claude Code must be able to run here: log in (`claude login`) or set CLAUDE_CODE_OAUTH_TOKEN; the CLI "
        "bundled in claude-agent-sdk is used unless KODO_CLAUDE_CLI names another."
    )

    def __init__(
        self,
        model: str = "sonnet",
        *,
        parent_env: Mapping[str, str],
        cli_path: Path | str | None = None,
        home_root: Path | None = None,
        timeout_s: float = 600.0,
    ) -> None:
        self.model = model
        self.parent_env, self.cli_path = dict(parent_env), cli_path
        #: where each conversation's CLI keeps its transcript (kept until the next cycle, for a resume)
        self.home_root = home_root or Path(tempfile.gettempdir()) / "kodo-bot-orchestrator"
        self.timeout_s = timeout_s
        self._conversation: _Conversation | None = None
        #: the next cycle's session, started while the work it said ``done`` to is verified (a CLI's cold start
        #: is a second or two per cycle otherwise), for the same system prompt and tools
        self._spare: tuple[str, asyncio.Task[_Conversation]] | None = None

    def missing(self) -> str | None:
        from kodo_bot.agents._claude_cli import cli_problem

        return cli_problem(self.cli_path)

    async def reply(
        self,
        system: str,
        messages: list[dict[str, Any]],
        tool_defs: list[dict[str, Any]],
        *,
        on_retry: RetryNotice | None = None,
    ) -> OrchestratorReply:
        started = time.monotonic()
        seed = json.dumps(messages[0], sort_keys=True)
        setup = json.dumps([system, tool_defs], sort_keys=True)
        talk = self._conversation
        if talk is None or talk.seed != seed:
            await self._end(keep_home=False)
            spare = await self._take_spare(setup) if len(messages) == 1 else None
            if spare is not None:
                spare.seed = seed
                await spare._send(_text_of(messages[0]))
                talk = self._conversation = spare
            else:
                talk = self._conversation = await _Conversation.open(self, system, messages, tool_defs, seed)
        else:
            await talk.continue_with(messages[-1])
        turn = await talk.next_turn(self.timeout_s)
        if any(c.name == "done" for c in turn.calls) and self._spare is None:
            self._spare = (setup, asyncio.create_task(_Conversation.ready(self, system, tool_defs)))
        return talk.as_reply(turn, time.monotonic() - started)

    async def close(self) -> None:
        # the transcript stays: an interrupted run resumes this conversation
        await self._end(keep_home=True)
        spare = await self._take_spare(None)
        if spare is not None:
            await spare.stop(keep_home=False)

    async def _take_spare(self, setup: str | None) -> _Conversation | None:
        """The spare session when it was started for ``setup`` and started well; None otherwise (any other is
        ended: a spare costs a running CLI)."""
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        made, task = spare
        try:
            talk = await task
        except (ModelAPIError, asyncio.CancelledError):
            return None
        if made != setup:
            await talk.stop(keep_home=False)
            return None
        return talk

    async def _end(self, *, keep_home: bool) -> None:
        talk, self._conversation = self._conversation, None
        if talk is not None:
            await talk.stop(keep_home=keep_home)


class _Conversation:
    """One CLI session: one cycle's conversation with the orchestrator."""

    def __init__(self, owner: ClaudeCodeOrchestrator, seed: str, home: Path) -> None:
        self.owner, self.seed, self.home = owner, seed, home
        self.session_id: str | None = None
        self.calls: dict[str, _Call] = {}
        self.turn = _Turn()
        self.finished: asyncio.Future[_Turn] = asyncio.get_running_loop().create_future()
        self.changed = asyncio.Event()
        self.process: Any = None
        #: who pays for its tokens, by the credential it starts with (``claude_billing``)
        self.bucket: Bucket = "subscription"

    @classmethod
    async def ready(cls, owner: ClaudeCodeOrchestrator, system: str, tool_defs: list[dict[str, Any]]) -> _Conversation:
        """A new session, started and waiting for its first message (which fixes its seed)."""
        owner.home_root.mkdir(parents=True, exist_ok=True)
        talk = cls(owner, "", Path(tempfile.mkdtemp(prefix="conversation-", dir=owner.home_root)))
        await talk._start(system, tool_defs, None)
        return talk

    @classmethod
    async def open(
        cls,
        owner: ClaudeCodeOrchestrator,
        system: str,
        messages: list[dict[str, Any]],
        tool_defs: list[dict[str, Any]],
        seed: str,
    ) -> _Conversation:
        """A new CLI session for this conversation, or the killed one's resumed when the conversation has
        gone further than its first message."""
        resume, home = _resumable(messages) if len(messages) > 1 else (None, None)
        if home is None:
            owner.home_root.mkdir(parents=True, exist_ok=True)
            home = Path(tempfile.mkdtemp(prefix="conversation-", dir=owner.home_root))
        talk = cls(owner, seed, home)
        await talk._start(system, tool_defs, resume)
        if len(messages) == 1:
            await talk._send(_text_of(messages[0]))
        elif resume is not None:
            await talk._send(_results_told(messages))
        else:
            await talk._send(_replayed(messages))
        return talk

    async def _start(self, system: str, tool_defs: list[dict[str, Any]], resume: str | None) -> None:
        from claude_agent_sdk import ClaudeAgentOptions, create_sdk_mcp_server

        from kodo_bot.agents._claude_cli import real_cli
        from kodo_bot.agents._claude_process import CliProcess
        from kodo_bot.agents.env import agent_environment, claude_billing

        tools = [self._tool(t) for t in tool_defs]
        work = self.home / "work"
        work.mkdir(exist_ok=True)
        # a delegation takes as long as the agent works: the CLI must not give up on the tool call
        env = agent_environment(self.owner.parent_env, state_dir=self.home, extra={"MCP_TOOL_TIMEOUT": _DAY_MS})
        options = ClaudeAgentOptions(
            system_prompt=system,
            cwd=work,
            tools=[],  # no built-in tool: it directs, the agents do the work
            allowed_tools=[PREFIX + t["name"] for t in tool_defs],
            mcp_servers={SERVER: create_sdk_mcp_server(SERVER, tools=tools)},
            permission_mode="bypassPermissions",
            model=self.owner.model,
            resume=resume,
            env=env,
            cli_path=_dies_with_us(real_cli(self.owner.cli_path), self.home),
            setting_sources=[],
            include_partial_messages=True,
        )
        self.bucket = claude_billing(env)
        try:
            self.process = await CliProcess.start(options, on_message=self._seen, alive=None, name="orchestrator")
        except AgentError as exc:
            raise ModelAPIError(f"the Claude Code orchestrator could not start: {exc}", hint=_RESUME_HINT) from exc
        self.session_id = resume

    def _tool(self, definition: dict[str, Any]) -> Any:
        from claude_agent_sdk import tool

        name = definition["name"]

        @tool(name, definition.get("description", ""), definition["input_schema"])
        async def called(args: dict[str, Any]) -> dict[str, Any]:
            call = await self._claim(name, args)
            text, is_error = await call.result
            return {"content": [{"type": "text", "text": text}], **({"is_error": True} if is_error else {})}

        return called

    async def _claim(self, name: str, args: dict[str, Any]) -> _Call:
        """The tool use this call answers: the first unclaimed one of that name and input. The CLI may call
        a tool before the block naming it has reached this side, so a call waits for it."""
        while True:
            open_calls = [c for c in self.calls.values() if not c.claimed and c.name == name]
            # the same input first; else the oldest call of that name (the CLI may have normalised the input,
            # and a call left waiting for a result that never comes would hang the cycle)
            found = next((c for c in open_calls if c.input == args), None) or (open_calls[0] if open_calls else None)
            if found is not None:
                found.claimed = True
                return found
            self.changed.clear()
            await self.changed.wait()

    # ------------------------------------------------------------------ the CLI's stream
    def _seen(self, message: object) -> None:
        from claude_agent_sdk import AssistantMessage, ResultMessage, StreamEvent, TextBlock, ToolUseBlock

        if getattr(message, "parent_tool_use_id", None):
            return
        if isinstance(message, StreamEvent):
            self.session_id = message.session_id or self.session_id
            self._streamed(message.event)
        elif isinstance(message, AssistantMessage):
            self.session_id = message.session_id or self.session_id
            for block in message.content:
                self.turn.blocks += 1
                if isinstance(block, TextBlock) and block.text:
                    self.turn.text.append(block.text)
                elif isinstance(block, ToolUseBlock) and block.name.startswith(PREFIX):
                    self._register(block.id, block.name.removeprefix(PREFIX), dict(block.input))
            self._maybe_done()
        elif isinstance(message, ResultMessage):
            if message.is_error:
                self._fail(ModelAPIError(f"the Claude Code orchestrator failed: {message.result or message.subtype}"))
            else:
                self.turn.stopped = True  # a turn without tools: the CLI's query is over
                self.turn.expected_blocks = min(self.turn.expected_blocks, self.turn.blocks)
                self._maybe_done()

    def _streamed(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            u = (event.get("message") or {}).get("usage") or {}
            self.turn.usage = Usage(
                input_tokens=int(u.get("input_tokens") or 0),
                cache_read_tokens=int(u.get("cache_read_input_tokens") or 0),
                cache_creation_tokens=int(u.get("cache_creation_input_tokens") or 0),
            )
        elif kind == "content_block_start":
            self.turn.expected_blocks += 1
        elif kind == "message_delta":
            out = int(((event.get("usage") or {}).get("output_tokens")) or 0)
            self.turn.usage = self.turn.usage.model_copy(update={"output_tokens": out})
        elif kind == "message_stop":
            self.turn.stopped = True
            self._maybe_done()

    def _register(self, ident: str, name: str, args: dict[str, Any]) -> None:
        call = _Call(ident, name, args, asyncio.get_running_loop().create_future())
        self.calls[ident] = call
        self.turn.calls.append(call)
        self.changed.set()

    def _maybe_done(self) -> None:
        turn = self.turn
        if turn.stopped and turn.blocks >= turn.expected_blocks and not self.finished.done():
            self.finished.set_result(turn)

    def _fail(self, error: Exception) -> None:
        if not self.finished.done():
            self.finished.set_exception(error)

    # ------------------------------------------------------------------ the engine's side
    async def next_turn(self, timeout_s: float) -> _Turn:
        """The model's next complete message, or why there is none (the CLI ended, or took too long)."""
        deadline = time.monotonic() + timeout_s
        while not self.finished.done():
            if self.process is None or not self.process.running:
                raise ModelAPIError("the Claude Code orchestrator's CLI ended", hint=_RESUME_HINT)
            if time.monotonic() > deadline:
                raise ModelAPIError(f"the Claude Code orchestrator did not answer in {timeout_s:g}s", hint=_RESUME_HINT)
            await asyncio.wait([self.finished], timeout=0.2)
        turn = self.finished.result()
        self.process.drop_stale_messages()  # this side read them as they came (``_seen``)
        self.turn, self.finished = _Turn(), asyncio.get_running_loop().create_future()
        return turn

    async def continue_with(self, last: dict[str, Any]) -> None:
        """The engine's next message: the results of the turn's calls (each call then returns them to the
        CLI), or words of its own."""
        answered = False
        for block in _blocks(last):
            if block.get("type") == "tool_result" and (call := self.calls.get(block.get("tool_use_id", ""))):
                if not call.result.done():
                    call.result.set_result((_result_text(block.get("content")), bool(block.get("is_error"))))
                answered = True
        if not answered:
            await self._send(_text_of(last))

    async def _send(self, prompt: str) -> None:
        try:
            await self.process.send(prompt)
        except AgentError as exc:
            raise ModelAPIError(f"the Claude Code orchestrator stopped: {exc}", hint=_RESUME_HINT) from exc

    def as_reply(self, turn: _Turn, wait_s: float) -> OrchestratorReply:
        marks = {SESSION_KEY: self.session_id, HOME_KEY: str(self.home)}
        text = "\n".join(turn.text).strip()
        content: list[dict[str, Any]] = [{"type": "text", "text": text or "(tool calls)", **marks}]
        uses = [ToolUse(id=c.id, name=c.name, input=c.input) for c in turn.calls]
        content += [{"type": "tool_use", "id": u.id, "name": u.name, "input": u.input} for u in uses]
        return OrchestratorReply(
            text=text,
            tool_uses=uses,
            stop_reason="tool_use" if uses else "end_turn",
            usage=turn.usage,
            content=content,
            wait_s=wait_s,
            # the engine prices the tokens as the API would: paid per token on an API key, else what the
            # subscription covers (shown to say where the work went)
            bucket=self.bucket,
        )

    async def stop(self, *, keep_home: bool) -> None:
        from kodo_bot.agents._processes import process_tree, reap

        if self.process is not None:
            # killed before anything is cancelled: a tool call that failed would make the CLI ask the model
            # again, about a conversation the engine has left (``done`` is never answered)
            await asyncio.to_thread(reap, process_tree(self.process.pid), 0.0)
            await self.process.stop()
            self.process = None
        for call in self.calls.values():
            if not call.result.done():
                call.result.cancel()
        if not keep_home:
            shutil.rmtree(self.home, ignore_errors=True)


def _dies_with_us(cli: Path, home: Path) -> Path:
    """The CLI, started so that it ends when kodo-bot does, even by ``kill -9``: it is not idle like an
    agent's (which sees its input close and exits) but mid-request, and would otherwise outlive kodo-bot
    until the model answers. ``setpriv --pdeathsig`` (util-linux) asks the kernel to kill it then; without
    setpriv, the CLI itself."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return cli
    launcher = home / "claude-launcher.sh"
    launcher.write_text(f'#!/bin/sh\nexec {shlex.quote(setpriv)} --pdeathsig KILL -- {shlex.quote(str(cli))} "$@"\n')
    launcher.chmod(0o700)
    return launcher


def _resumable(messages: list[dict[str, Any]]) -> tuple[str | None, Path | None]:
    """The CLI session the conversation's last reply came from, if its transcript is still on disk."""
    for message in reversed(messages):
        blocks = message.get("content") if message.get("role") == "assistant" else None
        for block in blocks if isinstance(blocks, list) else []:
            session, home = block.get(SESSION_KEY), block.get(HOME_KEY)
            if session and home and Path(home).is_dir():
                return str(session), Path(home)
    return None, None


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    return content if isinstance(content, list) else []


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "\n\n".join(str(b.get("text", "")) for b in content or [] if b.get("type") == "text")


def _result_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return str(content or "")


def _results_told(messages: list[dict[str, Any]]) -> str:
    """The results a resumed session's last calls were waiting for, when the process was killed."""
    names = {
        b.get("id"): b.get("name")
        for m in messages
        if m.get("role") == "assistant" and isinstance(m.get("content"), list)
        for b in m["content"]
        if b.get("type") == "tool_use"
    }
    last = messages[-1]
    lines = ["kodo-bot was restarted while your last tool calls ran. Their results:"]
    for block in _blocks(last):
        if block.get("type") == "tool_result":
            flag = " (error)" if block.get("is_error") else ""
            name = names.get(block.get("tool_use_id"), "a tool")
            lines.append(f"\n## {name} ({block.get('tool_use_id')}){flag}\n{_result_text(block.get('content'))}")
    return "\n".join(lines) + "\n\nGo on from here."


def _replayed(messages: list[dict[str, Any]]) -> str:
    """The conversation so far, told to a new session when the old one's transcript is gone."""
    parts = [_text_of(messages[0]), "\n# What you did so far in this cycle (your session was restarted)"]
    for message in messages[1:]:
        for block in _blocks(message):
            if block.get("type") == "tool_use":
                parts.append(f"- you called {block['name']} with {json.dumps(block.get('input'))}")
            elif block.get("type") == "tool_result":
                parts.append(f"  result: {_result_text(block.get('content'))[:2000]}")
    return "\n".join(parts) + "\n\nGo on from here."
