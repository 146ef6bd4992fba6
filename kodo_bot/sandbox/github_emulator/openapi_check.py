"""Check JSON against GitHub's own OpenAPI descriptions: REST requests and responses, webhook payloads.

Used by the emulator when constructed with ``validate=SPEC_PATH`` (every exchange is checked and the
findings kept in a ``Recorder``), and usable on its own for anything a test captured. It needs
``jsonschema`` (a test dependency); nothing imports this module unless validation is asked for.

How GitHub's descriptions are read, and why:

* OpenAPI 3.0 ``nullable: true`` becomes ``anyOf: [{"type": "null"}, <schema>]`` *before* any other
  keyword is looked at, so ``nullable`` + ``enum`` (``state_reason: null``) accepts null, which a
  JSON-Schema validator given the raw 3.0 schema gets wrong. The webhook description is OpenAPI 3.1
  (``type: [..., "null"]``) and passes through unchanged.
* ``oneOf`` is checked as ``anyOf``: GitHub's branches overlap (``private-user`` is a superset of
  ``public-user``; a bare label list fits two ``add-labels`` forms), so "exactly one" fails valid data.
* ``add-labels`` and ``set-labels`` bodies that are a bare array (or a single string) are wrapped as
  ``{"labels": [...]}`` before checking: the description's prose allows the bare forms ("You can also
  pass an ``array`` of labels directly"), GitHub accepts them and PyGithub sends them, but its schema
  only lists the object forms.
* A response missing a ``required`` field is a *warning* (recorded drift: GitHub adds fields to the
  description faster than older payloads carry them); a wrong type, a bad enum value or a malformed
  ``date-time``/``uri`` is a *failure*. In a request, a missing required field is a failure, because
  GitHub answers 422.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from kodo_bot.sandbox.github_emulator._router import compile_template

_URI = "urn:github-description"
_LABEL_LIST_OPERATIONS = {"issues/add-labels", "issues/set-labels"}
#: Paths GitHub serves that its description leaves out, mapped to the operation they are an alias of.
#: ``GET /repos/{o}/{r}/statuses/{sha}`` is the legacy spelling PyGithub's ``Commit.get_statuses()`` uses.
ALIASES = {("GET", "/repos/{owner}/{repo}/statuses/{sha}"): "/repos/{owner}/{repo}/commits/{ref}/statuses"}
_DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S*$")


@dataclass(frozen=True)
class Finding:
    severity: str  # "failure" or "warning"
    direction: str  # "request", "response" or "webhook"
    operation: str  # operationId, or the webhook name ("issues-labeled")
    where: str  # "POST /repos/{owner}/{repo}/pulls -> 201", or the webhook name
    pointer: str  # where in the JSON ("/head/repo/owner/login")
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.direction} {self.where} at {self.pointer or '/'}: {self.message}"


def _formats() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("date-time")(lambda v: not isinstance(v, str) or bool(_DATE_TIME.match(v)))
    checker.checks("uri")(lambda v: not isinstance(v, str) or bool(_ABSOLUTE_URI.match(v)))
    checker.checks("email")(lambda v: not isinstance(v, str) or "@" in v)
    return checker


def _convert(node: Any, *, keep_required: bool) -> Any:
    """OpenAPI 3.0 schema dialect to JSON Schema 2020-12 (see the module docstring)."""
    if isinstance(node, list):
        return [_convert(item, keep_required=keep_required) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "required" and isinstance(value, list) and not keep_required:
            continue
        if key == "properties" and isinstance(value, dict):  # property *names* are not keywords
            out[key] = {name: _convert(sub, keep_required=keep_required) for name, sub in value.items()}
            continue
        out["anyOf" if key == "oneOf" and isinstance(value, list) else key] = _convert(
            value, keep_required=keep_required
        )
    if out.pop("nullable", None) is True:
        return {"anyOf": [{"type": "null"}, out]}
    return out


def _description(path: str | Path) -> _Description:
    """The description at ``path``, read and converted once per process while the file is unchanged: every
    emulator of a test run checks against the same one, and converting it costs half a second."""
    resolved = Path(path).resolve()
    return _read_description(resolved, resolved.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _read_description(path: Path, mtime_ns: int) -> _Description:
    return _Description(path)


class _Description:
    """One description document, converted twice: with and without ``required``. Never changed once built,
    so emulators share it (``_description``)."""

    def __init__(self, path: str | Path) -> None:
        self.raw = json.loads(Path(path).read_text())
        self._formats = _formats()
        self._registries = {}
        for strict in (True, False):
            doc = _convert(self.raw, keep_required=strict)
            resource = Resource.from_contents(doc, default_specification=DRAFT202012)
            self._registries[strict] = Registry().with_resource(_URI, resource)

    def errors(self, pointer: str, instance: Any, *, strict: bool) -> list[ValidationError]:
        schema = {"$ref": f"{_URI}#{quote(pointer, safe='/~')}"}
        validator = Draft202012Validator(schema, registry=self._registries[strict], format_checker=self._formats)
        return list(validator.iter_errors(instance))

    def findings(
        self, pointer: str, instance: Any, *, required_is_failure: bool, direction: str, operation: str, where: str
    ) -> list[Finding]:
        out = []
        for error in self.errors(pointer, instance, strict=False):
            leaf = _best_leaf(error)
            out.append(Finding("failure", direction, operation, where, _pointer(leaf), leaf.message[:300]))
        if out:
            return out
        severity = "failure" if required_is_failure else "warning"
        for error in self.errors(pointer, instance, strict=True):
            for leaf in _leaves(error):
                out.append(Finding(severity, direction, operation, where, _pointer(leaf), leaf.message[:300]))
        return out


class OpenAPIChecker:
    """GitHub's REST description: match ``METHOD /path`` to an operation and check bodies against it."""

    def __init__(self, spec_path: str | Path) -> None:
        self.description = _description(spec_path)
        self._operations = []
        for template, item in self.description.raw["paths"].items():
            for method, op in item.items():
                if method in ("get", "post", "put", "patch", "delete"):
                    self._operations.append((method.upper(), template, op, compile_template(template)))
        for (method, alias), target in ALIASES.items():
            op = self.description.raw["paths"].get(target, {}).get(method.lower())
            if op is not None:
                self._operations.append((method, target, op, compile_template(alias)))
        # the most literal template wins (``/commits/{ref}/status`` before ``/commits/{ref}``)
        self._operations.sort(key=lambda o: -len(re.sub(r"\{\w+\}", "", o[1])))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """``(template, operation)`` for a request path (without the API prefix or query string)."""
        for op_method, template, op, pattern in self._operations:
            if op_method == method.upper() and pattern.match(path):
                return template, op
        return None

    def check_request(self, method: str, path: str, body: Any) -> list[Finding] | None:
        """Findings for a request body; None when the operation is not in the description."""
        found = self.operation(method, path)
        if found is None:
            return None
        template, op = found
        if "requestBody" not in op:
            return []
        if op["operationId"] in _LABEL_LIST_OPERATIONS and isinstance(body, (list, str)):
            body = {"labels": [body] if isinstance(body, str) else body}  # see the module docstring
        pointer = f"/paths/{_escape(template)}/{method.lower()}/requestBody/content/application~1json/schema"
        return self.description.findings(
            pointer,
            body,
            required_is_failure=True,
            direction="request",
            operation=op["operationId"],
            where=f"{method} {template}",
        )

    def check_response(self, method: str, path: str, status: int, body: Any) -> list[Finding] | None:
        """Findings for a response body; None when the operation or the status is not described."""
        found = self.operation(method, path)
        if found is None:
            return None
        template, op = found
        where = f"{method} {template} -> {status}"
        key = str(status) if str(status) in op["responses"] else "default"
        if key not in op["responses"]:
            return None
        pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{key}"
        response = op["responses"][key]
        if "$ref" in response:  # a shared response such as #/components/responses/not_found
            pointer = response["$ref"].removeprefix("#")
            response = self._resolve(response["$ref"])
        if "application/json" not in response.get("content", {}):
            if body in (None, "", b""):
                return []
            return [Finding("failure", "response", op["operationId"], where, "", "a body where none is described")]
        return self.description.findings(
            f"{pointer}/content/application~1json/schema",
            body,
            required_is_failure=False,
            direction="response",
            operation=op["operationId"],
            where=where,
        )

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.description.raw
        for part in ref.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return cast(dict[str, Any], node)  # a $ref points at a schema object in the parsed JSON


class WebhookChecker:
    """GitHub's webhook description: ``check("issues", "labeled", payload)``."""

    def __init__(self, spec_path: str | Path) -> None:
        self.description = _description(spec_path)

    def check(self, event: str, action: str, payload: Any) -> list[Finding]:
        name = f"{event}-{action}".replace("_", "-")
        webhook = self.description.raw["webhooks"].get(name)
        if webhook is None:
            raise KeyError(f"webhook {name!r} is not in the description")
        pointer = f"/webhooks/{_escape(name)}/post/requestBody/content/application~1json/schema"
        return self.description.findings(
            pointer, payload, required_is_failure=False, direction="webhook", operation=name, where=name
        )


class Recorder:
    """Collects findings from many checks (thread-safe); what ``GitHubEmulator.validation`` holds."""

    def __init__(self, checker: OpenAPIChecker) -> None:
        self.checker = checker
        self._lock = threading.Lock()
        self.failures: list[Finding] = []
        self.warnings: list[Finding] = []
        self.checked: dict[str, int] = defaultdict(int)  # "request issues/create" -> count
        self.unmatched: list[str] = []  # "METHOD /path" not in the description
        self.undocumented: list[str] = []  # responses whose status the description does not list

    def check_request(self, method: str, path: str, body: Any) -> None:
        self._keep("request", method, path, self.checker.check_request(method, path, body))

    def check_response(self, method: str, path: str, status: int, body: Any) -> None:
        found = self.checker.check_response(method, path, status, body)
        if found is None and self.checker.operation(method, path) is not None:
            with self._lock:
                self.undocumented.append(f"{method} {path} -> {status}")
            return
        self._keep("response", method, path, found)

    def assert_clean(self) -> None:
        """Raise AssertionError listing every failure (warnings are drift, reported, not fatal)."""
        if self.failures or self.unmatched:
            lines = [str(f) for f in self.failures] + [f"not in the description: {u}" for u in self.unmatched]
            raise AssertionError("OpenAPI validation failed:\n  " + "\n  ".join(lines))

    def _keep(self, direction: str, method: str, path: str, found: list[Finding] | None) -> None:
        matched = self.checker.operation(method, path)
        with self._lock:
            if found is None or matched is None:  # findings come only for a described operation
                self.unmatched.append(f"{method} {path}")
                return
            operation = matched[1]["operationId"]
            self.checked[f"{direction} {operation}"] += 1
            for finding in found:
                (self.failures if finding.severity == "failure" else self.warnings).append(finding)


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(error: ValidationError) -> str:
    return "".join(f"/{part}" for part in error.absolute_path)


def _branches(error: ValidationError) -> list[list[ValidationError]]:
    grouped: dict[Any, list[ValidationError]] = defaultdict(list)
    for sub in error.context or []:
        grouped[sub.relative_schema_path[0]].append(sub)
    return list(grouped.values())


def _best_branch(error: ValidationError) -> list[ValidationError]:
    """The anyOf branch the instance came closest to (a null branch only if nothing else is close)."""
    return min(
        _branches(error),
        key=lambda errs: (
            all(e.schema == {"type": "null"} for e in errs),
            sum(e.validator != "required" for e in errs),
            len(errs),
        ),
    )


def _best_leaf(error: ValidationError) -> ValidationError:
    while error.validator in ("anyOf", "oneOf") and error.context:
        error = _best_branch(error)[0]
    return error


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    if error.validator in ("anyOf", "oneOf") and error.context:
        for sub in _best_branch(error):
            yield from _leaves(sub)
    else:
        yield error
