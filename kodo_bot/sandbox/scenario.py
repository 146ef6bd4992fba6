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

This module only describes and validates scenarios and turns a step into an Anthropic ``Message``
dict; it does no I/O beyond reading the file it is asked to load. Serving the steps over HTTP, routing
requests to roles and replaying retries live in ``kodo_bot.sandbox.model_server``. The full format is
documented in ``docs/scenario.md``.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

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
    #: default: "tool_use" when the step calls tools, else "end_turn"
    stop_reason: StopReason | None = None
    usage: UsageSpec | None = None
    #: serve this step N times in a row (each counts as a separate step)
    repeat: int = Field(default=1, ge=1, le=10_000)

    @model_validator(mode="after")
    def _says_something(self) -> Step:
        if self.error is not None and (self.text is not None or self.tool_calls):
            raise ValueError("an error step cannot also have text or tool_calls")
        if self.error is None and self.text is None and not self.tool_calls:
            raise ValueError("a step needs text, tool_calls or error")
        return self

    @property
    def effective_stop_reason(self) -> str:
        return self.stop_reason or ("tool_use" if self.tool_calls else "end_turn")


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
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"scenario file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"scenario file {path} cannot be read: {exc}") from exc
        return cls.from_yaml(text, source=str(path))


# --- turning a step into an API message (pure) --------------------------------------------------------


def estimate_tokens(value: object) -> int:
    """About four characters of JSON per token: enough for budgets and benchmarks, not billing."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return max(1, len(text) // 4)


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def content_blocks(step: Step) -> list[dict[str, Any]]:
    """The step's ``content`` list: text first (a model explains, then acts), then one block per tool."""
    blocks: list[dict[str, Any]] = []
    if step.text is not None:
        blocks.append({"type": "text", "text": step.text})
    for call in step.tool_calls:
        blocks.append({"type": "tool_use", "id": new_id("toolu"), "name": call.name, "input": call.input})
    return blocks


def build_message(step: Step, *, model: str, input_tokens: int) -> dict[str, Any]:
    """The non-streaming ``Message`` the API would return for this step (also the source of the stream)."""
    content = content_blocks(step)
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
            "output_tokens": usage.output_tokens
            if usage.output_tokens is not None
            else estimate_tokens(content),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """The API's error JSON, which the anthropic SDK and the CLI both parse into their error classes."""
    return {"type": "error", "error": {"type": error_type, "message": message}}
