"""GitHub's GraphQL endpoint: every document parsed and validated against GitHub's whole public schema
(``kodo_bot/data/github-schema.graphql``, built once per process on first use, ~1 s) with graphql-core,
then executed against that schema over the emulator's state (``_graphql_objects``).

So a document GitHub would refuse is refused here, with GitHub's wording for the common case
(``Field 'x' doesn't exist on type 'Y'``) and no ``data``; an answer can only have the shape the
schema gives. Resolver errors (``NOT_FOUND``, ``FORBIDDEN``) come back beside ``data`` with a null,
all with HTTP 200, as on GitHub. What is served is listed in ``_graphql_objects.Roots``.
"""

from __future__ import annotations

import re
import threading
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from graphql import GraphQLError, GraphQLResolveInfo, GraphQLSchema

    from kodo_bot.sandbox.github_emulator._models import Token
    from kodo_bot.sandbox.github_emulator._render import Renderer

_SCHEMA: GraphQLSchema | None = None
_SCHEMA_LOCK = threading.Lock()
_UNDEFINED_FIELD = re.compile(r"^Cannot query field '(\w+)' on type '(\w+)'\.")


def github_schema() -> GraphQLSchema:
    """GitHub's schema, built on first use and shared by every emulator in the process. The published
    SDL repeats two enterprise fields and breaks two deprecation rules graphql-core enforces, so it is
    built without re-checking the SDL or the schema (documents are still validated against it)."""
    global _SCHEMA
    with _SCHEMA_LOCK:
        if _SCHEMA is None:
            from graphql import build_ast_schema, parse

            source = resources.files("kodo_bot").joinpath("data/github-schema.graphql").read_text(encoding="utf-8")
            _SCHEMA = build_ast_schema(parse(source, no_location=True), assume_valid_sdl=True, assume_valid=True)
        return _SCHEMA


def execute(render: Renderer, token: Token, payload: Any) -> tuple[dict[str, Any], str | None]:
    """Run one GraphQL request; returns the answer and the top-level field names (for call logs)."""
    from graphql import GraphQLSyntaxError, OperationDefinitionNode, execute_sync, parse, validate

    from kodo_bot.sandbox.github_emulator._graphql_objects import Roots

    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return {"errors": [{"message": "A query attribute must be specified and must be a string."}]}, None
    schema = github_schema()
    try:
        document = parse(payload["query"])
    except GraphQLSyntaxError as exc:
        return {"errors": [_validation_error(exc)]}, None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    names = ",".join(f.name.value for op in operations[:1] for f in op.selection_set.selections if hasattr(f, "name"))
    problems = validate(schema, document)
    if problems:
        return {"errors": [_validation_error(p) for p in problems]}, names or None
    roots = Roots(render, token)
    root = roots.mutation() if operations and operations[0].operation.value == "mutation" else roots.query()
    result = execute_sync(
        schema,
        document,
        root_value=root,
        variable_values=payload.get("variables") or {},
        operation_name=payload.get("operationName"),
        field_resolver=_resolve,
        type_resolver=lambda value, info, abstract: value.typename,
    )
    out: dict[str, Any] = {}
    if result.errors:
        out["errors"] = [_execution_error(e) for e in result.errors]
    out["data"] = result.data
    if result.data is None and result.errors and all(e.path is None for e in result.errors):
        out.pop("data")  # variables that do not fit: a request error, as GitHub answers it
    return out, names or None


def _resolve(source: Any, info: GraphQLResolveInfo[Any], **args: Any) -> Any:
    from kodo_bot.sandbox.github_emulator._graphql_objects import GqlError, Obj

    if not isinstance(source, Obj):
        return None
    name = info.field_name
    if name not in source.fields or name.startswith("_"):
        raise GqlError(f"The GitHub emulator does not serve {source.typename}.{name}", "EMULATOR_UNSUPPORTED")
    value = source.fields[name]
    return value(args) if callable(value) else value


def _validation_error(error: GraphQLError) -> dict[str, Any]:
    out: dict[str, Any] = {"path": ["query"], "extensions": {}}
    message = error.message
    found = _UNDEFINED_FIELD.match(message)
    if found:
        field, type_name = found.groups()
        message = f"Field '{field}' doesn't exist on type '{type_name}'"
        out["extensions"] = {"code": "undefinedField", "typeName": type_name, "fieldName": field}
    out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations or []]
    out["message"] = message
    return out


def _execution_error(error: GraphQLError) -> dict[str, Any]:
    from kodo_bot.sandbox.github_emulator._graphql_objects import GqlError

    original = error.original_error
    out: dict[str, Any] = {}
    if isinstance(original, GqlError) and original.type:
        out["type"] = original.type
    if error.path is not None:
        out["path"] = list(error.path)
    out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations or []]
    out["message"] = original.message if isinstance(original, GqlError) else error.message
    return out
