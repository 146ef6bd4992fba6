"""Just enough of a GraphQL parser for what clients send a GitHub bot's endpoint.

Handles one operation (``query``/``mutation``, optionally named, with variable definitions), fields
with aliases and arguments (literals, variables, lists, input objects) and inline fragments
(``... on PullRequest { ... }``). Named fragments, directives and subscriptions are refused with a
GraphQL error rather than misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<ws>[\s,\ufeff]+|\#[^\n]*)
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$():=@\[\]{}|&])
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
""",
    re.VERBOSE,
)


class GraphQLSyntaxError(ValueError):
    pass


@dataclass
class Field:
    name: str
    alias: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    selections: list[Field | Fragment] | None = None

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class Fragment:
    """An inline fragment: ``... on TypeName { selections }``."""

    type_condition: str | None
    selections: list[Field | Fragment]


@dataclass(frozen=True)
class Variable:
    name: str


@dataclass
class Operation:
    kind: str  # "query" or "mutation"
    name: str | None
    selections: list[Field | Fragment]
    variable_defaults: dict[str, Any]


def parse(source: str) -> Operation:
    return _Parser(source).operation()


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(source):
            match = _TOKEN.match(source, pos)
            if not match:
                raise GraphQLSyntaxError(f'Parse error on "{source[pos]}" at position {pos}')
            kind = match.lastgroup  # never None: every alternative in _TOKEN is a named group
            if kind is not None and kind != "ws":
                self.tokens.append((kind, match.group()))
            pos = match.end()
        self.i = 0

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        return value is None or self.tokens[self.i][1] == value

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        if self.i >= len(self.tokens):
            raise GraphQLSyntaxError("Parse error: unexpected end of document")
        tok_kind, text = self.tokens[self.i]
        if (value is not None and text != value) or (kind is not None and tok_kind != kind):
            raise GraphQLSyntaxError(f'Parse error on "{text}" ({tok_kind.upper()})')
        self.i += 1
        return text

    def operation(self) -> Operation:
        kind, name, defaults = "query", None, {}
        if self.peek("query") or self.peek("mutation") or self.peek("subscription"):
            kind = self.take()
            if kind == "subscription":
                raise GraphQLSyntaxError("Subscriptions are not supported")
            if self.i < len(self.tokens) and self.tokens[self.i][0] == "name":
                name = self.take()
            if self.peek("("):
                defaults = self.variable_definitions()
        selections = self.selection_set()
        if self.i < len(self.tokens):
            raise GraphQLSyntaxError("Only one operation per document is supported (no named fragments)")
        return Operation(kind, name, selections, defaults)

    def variable_definitions(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        self.take("(")
        while not self.peek(")"):
            self.take("$")
            name = self.take(kind="name")
            self.take(":")
            self.type_ref()
            if self.peek("="):
                self.take("=")
                defaults[name] = self.value()
        self.take(")")
        return defaults

    def type_ref(self) -> None:
        if self.peek("["):
            self.take("[")
            self.type_ref()
            self.take("]")
        else:
            self.take(kind="name")
        if self.peek("!"):
            self.take("!")

    def selection_set(self) -> list[Field | Fragment]:
        self.take("{")
        out: list[Field | Fragment] = []
        while not self.peek("}"):
            out.append(self.selection())
        self.take("}")
        return out

    def selection(self) -> Field | Fragment:
        if self.peek("..."):
            self.take("...")
            if self.peek("on"):
                self.take("on")
                return Fragment(self.take(kind="name"), self.selection_set())
            if self.peek("{"):
                return Fragment(None, self.selection_set())
            raise GraphQLSyntaxError("Named fragments are not supported")
        if self.peek("@"):
            raise GraphQLSyntaxError("Directives are not supported")
        name, alias = self.take(kind="name"), None
        if self.peek(":"):
            self.take(":")
            alias, name = name, self.take(kind="name")
        arguments = self.arguments() if self.peek("(") else {}
        selections = self.selection_set() if self.peek("{") else None
        return Field(name, alias, arguments, selections)

    def arguments(self) -> dict[str, Any]:
        self.take("(")
        out = {}
        while not self.peek(")"):
            name = self.take(kind="name")
            self.take(":")
            out[name] = self.value()
        self.take(")")
        return out

    def value(self) -> Any:
        kind, text = self.tokens[self.i] if self.i < len(self.tokens) else ("", "")
        if text == "$":
            self.take("$")
            return Variable(self.take(kind="name"))
        if text == "[":
            self.take("[")
            items = []
            while not self.peek("]"):
                items.append(self.value())
            self.take("]")
            return items
        if text == "{":
            self.take("{")
            obj = {}
            while not self.peek("}"):
                key = self.take(kind="name")
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        self.take()
        if kind == "string":
            import json

            return json.loads(text)
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, text)  # enums stay strings
        raise GraphQLSyntaxError(f'Parse error on "{text}"')


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    """Replace variable references with their values, recursively."""
    if isinstance(value, Variable):
        return variables.get(value.name)
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    return value
