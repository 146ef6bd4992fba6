"""The scenario format: what each role's model answers, one step per API response, in order.

A scenario is data a person writes by hand (YAML) or a test builds (a dict)::

    roles:
      orchestrator:
        - text: '{"action": "delegate", "agent": "worker_fast", "task": "add hello.py"}'
      worker_fast:
        - tool_calls: [{name: Write, input: {file_path: /abs/hello.py, content: "print('hi')\\n"}}]
        - error: {status: 529, type: overloaded_error, message: busy, retry_after: 0}
        - text: Done.
          repeat: 2

This module is the server's sans-I/O half: it describes and validates scenarios, reads what it needs from
a request body (the role marker, the replay key) and writes what the API would answer (a ``Message`` dict,
its server-sent-event frames, an error body), all as pure functions. It does no I/O beyond reading the
scenario file it is asked to load. Serving over HTTP, the step queues and the replay cache live in
``kodo_bot.sandbox.model_server``. The format is documented in ``docs/scenario.md``.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from kodo_bot._files import read_config_text
from kodo_bot.engine.team import format_validation_error
from kodo_bot.errors import ConfigError

StopReason = Literal["end_turn", "tool_use", "max_tokens", "stop_sequence", "pause_turn", "refusal"]


class _Strict(BaseModel):
    # extra="forbid": a misspelt key in a hand-written scenario ("tool_call:") must fail loudly, not be
    # silently ignored and leave the step answering something other than what its author meant.
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolCallSpec(_Strict):
    """A ``tool_use`` block. The server makes up the ``toolu_...`` id, because the client needs one."""

    name: str = Field(min_length=1)
    input: dict[str, Any] = Field(default_factory=dict)


class ErrorSpec(_Strict):
    """An HTTP error answer, in the API's error shape ``{"type": "error", "error": {...}}``."""

    status: int = Field(ge=400, le=599)
    #: the API's error type, e.g. overloaded_error (529), rate_limit_error (429), api_error (500)
    type: str = "api_error"
    message: str = "scripted error"
    #: seconds, sent as the ``retry-after`` header when given
    retry_after: float | None = Field(default=None, ge=0)


class UsageSpec(_Strict):
    """Token counts to report instead of the server's estimate (either may be left to the estimate)."""

    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)


class Step(_Strict):
    """One model response: text and/or tool calls, or an error; optionally late, optionally repeated."""

    text: str | None = None
    tool_calls: list[ToolCallSpec] = Field(default_factory=list)
    #: seconds to wait before answering (a slow model, or a stall for an idle-timeout test)
    delay_s: float = Field(default=0.0, ge=0)
    error: ErrorSpec | None = None
    #: answer HTTP 200 with this text as the body, verbatim: a malformed response (cut JSON, not a message).
    #: Like an error, consumed and never replayed
    malformed: str | None = None
    #: default: "tool_use" when the step calls tools, else "end_turn"
    stop_reason: StopReason | None = None
    usage: UsageSpec | None = None
    #: serve this step N times in a row (each counts as a separate step)
    repeat: int = Field(default=1, ge=1, le=10_000)
    #: an answer only the Gemini API gives (``sandbox/gemini_wire.py``): a candidate blocked for safety, an
    #: empty one, or a function call the model could not form. Like an error, consumed and never replayed
    gemini: Literal["blocked", "empty", "malformed_call"] | None = None
    #: answer one of two steps, depending on what the tools of the previous step returned
    branch: Branch | None = None

    @model_validator(mode="after")
    def _says_something(self) -> Step:
        if self.branch is not None:
            if self.text is not None or self.tool_calls or self.error or self.malformed or self.gemini:
                raise ValueError("a branch step cannot also have text, tool_calls, error, malformed or gemini")
            return self
        if self.error is not None and (self.text is not None or self.tool_calls):
            raise ValueError("an error step cannot also have text or tool_calls")
        if self.malformed is not None and (self.text is not None or self.tool_calls or self.error is not None):
            raise ValueError("a malformed step cannot also have text, tool_calls or error")
        special = self.error is not None or self.malformed is not None
        if self.gemini is not None and (self.text is not None or self.tool_calls or special):
            raise ValueError("a gemini step cannot also have text, tool_calls, error or malformed")
        if not special and self.gemini is None and self.text is None and not self.tool_calls:
            raise ValueError("a step needs text, tool_calls or error (or malformed, or gemini)")
        return self

    @property
    def effective_stop_reason(self) -> str:
        return self.stop_reason or ("tool_use" if self.tool_calls else "end_turn")

    def summary(self) -> str:
        """A few words for a failure message: "text 'Done.', tool Bash" or "error 529 overloaded_error"."""
        if self.branch is not None:
            return f"branch on {self.branch.contains!r}"
        if self.error is not None:
            return f"error {self.error.status} {self.error.type}"
        if self.malformed is not None:
            return f"malformed 200 {self.malformed[:40]!r}"
        if self.gemini is not None:
            return f"gemini {self.gemini} candidate"
        parts = [f"text {self.text[:60]!r}"] if self.text is not None else []
        return ", ".join(parts + [f"tool {c.name}" for c in self.tool_calls])


class Branch(_Strict):
    """Two answers, chosen by what the client's tools really returned: ``then`` when the results it sends
    with this request (those of the previous step's tool calls) contain ``contains``, else ``else``. So a
    scripted tester can pass or fail on what a real browser or command showed, rather than on the script."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    contains: str = Field(min_length=1)
    then: Step
    otherwise: Step = Field(alias="else")

    @model_validator(mode="after")
    def _flat(self) -> Branch:
        if self.then.branch is not None or self.otherwise.branch is not None:
            raise ValueError("a branch's steps cannot branch again")
        return self

    def choose(self, body: dict[str, Any]) -> Step:
        return self.then if self.contains in tool_results_text(body) else self.otherwise


Step.model_rebuild()


class Scenario(_Strict):
    """What each role answers, in order. Role names are the ``kodo-role:`` marker values."""

    roles: dict[str, list[Step]] = Field(default_factory=dict)

    @field_validator("roles")
    @classmethod
    def _role_names(cls, roles: dict[str, list[Step]]) -> dict[str, list[Step]]:
        for name in roles:
            if not name or name != name.strip() or any(c.isspace() for c in name):
                raise ValueError(f"role name {name!r} must be non-empty and contain no whitespace")
        return roles

    def queue(self, role: str) -> list[Step]:
        """The role's steps with ``repeat`` expanded: the sequence the server actually serves."""
        return [step for step in self.roles.get(role, []) for _ in range(step.repeat)]

    @classmethod
    def from_dict(cls, data: object, *, source: str = "the scenario") -> Scenario:
        if not isinstance(data, dict):
            raise ConfigError(f"{source} must be a mapping with a 'roles:' section")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{source} is invalid:\n{format_validation_error(exc)}") from exc

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "the scenario") -> Scenario:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source} is not valid YAML: {exc}") from exc
        return cls.from_dict(data, source=source)

    @classmethod
    def load(cls, path: Path | str) -> Scenario:
        path = Path(path)
        text = read_config_text(path, "scenario file")
        return cls.from_yaml(text, source=str(path))


# --- reading a request (pure) -------------------------------------------------------------------------


_MARKER = re.compile(r"^kodo-role:[ \t]*(\S+)", re.MULTILINE)


def _texts(content: object) -> Iterator[str]:
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                yield block["text"]
            elif isinstance(block, str):
                yield block


def find_role(body: dict[str, Any]) -> str | None:
    """The role named by the first ``kodo-role:`` line in the system prompt or a ``system`` message.

    Searched rather than read from a fixed place: the CLI puts its own blocks before ours, and some CLI
    versions send system text as ``messages[]`` entries with role "system". User and assistant messages
    are not searched, since a task may quote a marker.
    """
    texts = list(_texts(body.get("system")))
    for msg in body.get("messages") or []:
        if isinstance(msg, dict) and msg.get("role") == "system":
            texts.extend(_texts(msg.get("content")))
    for text in texts:
        if match := _MARKER.search(text):
            return match.group(1)
    return None


def tool_names(body: dict[str, Any]) -> tuple[str, ...]:
    tools = body.get("tools") or []
    return tuple(str(t.get("name")) for t in tools if isinstance(t, dict))


def request_key(role: str, body: dict[str, Any]) -> str:
    """Identity of a request for replay: role, messages (canonical JSON), tool names and ``metadata``.

    ``metadata`` is there because the CLI puts its session id in it: two fresh sessions of one role given
    the same task send the same messages, yet are two conversations that should each get their own step,
    while a retry within one session repeats the metadata too.
    """
    canonical = json.dumps(
        [role, body.get("messages") or [], tool_names(body), body.get("metadata")],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def last_user_snippet(body: dict[str, Any], limit: int = 200) -> str:
    for msg in reversed(body.get("messages") or []):
        if not isinstance(msg, dict) or msg.get("role") != "user":
            continue
        content = msg.get("content")
        parts = list(_texts(content))
        if isinstance(content, list):
            parts += [f"[{b.get('type')}]" for b in content if isinstance(b, dict) and "text" not in b]
        text = " ".join(p.strip() for p in parts if p.strip())
        return text if len(text) <= limit else text[: limit - 3] + "..."
    return ""


def tool_results_text(body: dict[str, Any]) -> str:
    """All text of the tool results in the request's last message (what the client's tools returned)."""
    messages = body.get("messages") or []
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    content = last.get("content") if last.get("role") == "user" else None
    blocks = (
        [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        if isinstance(content, list)
        else []
    )
    return "\n".join(text for block in blocks for text in _texts(block.get("content")))


# --- writing a response (pure) ------------------------------------------------------------------------


#: what a request without a kodo marker gets (the CLI's own side calls: see docs/scenario.md), unless it
#: asks for JSON output, when it gets the smallest value its schema allows
SIDE_REPLY = "OK"


def estimate_tokens(value: object) -> int:
    """About four characters of JSON per token: enough for budgets and benchmarks, not billing."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return max(1, len(text) // 4)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def content_blocks(step: Step, offered: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The step's ``content`` list: text first (a model explains, then acts), then one block per tool."""
    blocks: list[dict[str, Any]] = []
    if step.text is not None:
        blocks.append({"type": "text", "text": step.text})
    for call in step.tool_calls:
        name = offered_name(call.name, offered)
        blocks.append({"type": "tool_use", "id": new_id("toolu"), "name": name, "input": call.input})
    return blocks


def offered_name(name: str, offered: tuple[str, ...]) -> str:
    """A scenario names a tool as kodo-bot defines it (``done``); Claude Code offers an MCP server's tools as
    ``mcp__<server>__done``. The step calls the one the request offers, so one scenario serves every
    orchestrator."""
    if name in offered:
        return name
    return next((t for t in offered if t.startswith("mcp__") and t.endswith(f"__{name}")), name)


def build_message(step: Step, *, model: str, input_tokens: int, offered: tuple[str, ...] = ()) -> dict[str, Any]:
    """The non-streaming ``Message`` the API would return for this step (also the source of the stream)."""
    content = content_blocks(step, offered)
    usage = step.usage or UsageSpec()
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": step.effective_stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage.input_tokens if usage.input_tokens is not None else input_tokens,
            "output_tokens": usage.output_tokens if usage.output_tokens is not None else estimate_tokens(content),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """The API's error JSON, which the anthropic SDK and the CLI both parse into their error classes."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


def side_reply(body: dict[str, Any]) -> str:
    """A harmless answer to a side call: the CLI's title request wants JSON ``{"title": ...}``, say."""
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        return json.dumps(minimal_instance(fmt["schema"]))
    return SIDE_REPLY


def minimal_instance(schema: dict[str, Any]) -> Any:
    """The simplest value matching a JSON schema's ``type``/``enum``/``required``: enough to parse."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: minimal_instance(props.get(name) or {}) for name in schema.get("required") or []}
    scalars: dict[str, Any] = {"string": "scripted", "integer": 0, "number": 0, "boolean": False, "array": []}
    return scalars.get(kind) if isinstance(kind, str) else None


def sse_event(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


def sse_frames(message: dict[str, Any]) -> Iterator[bytes]:
    """The stream the API sends for ``message``: start, each block as start/delta/stop, delta, stop."""
    head = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    head["usage"] = {**message["usage"], "output_tokens": 1}
    yield sse_event("message_start", {"type": "message_start", "message": head})
    for index, block in enumerate(message["content"]):
        start: dict[str, Any]
        delta: dict[str, Any]
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        yield sse_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        yield sse_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        yield sse_event("content_block_stop", {"type": "content_block_stop", "index": index})
    yield sse_event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        },
    )
    yield sse_event("message_stop", {"type": "message_stop"})
