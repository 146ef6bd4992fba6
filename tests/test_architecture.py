"""The package's shape, read from its imports: the engine owns its ports and no package imports another in
a cycle. Imports inside functions count: a lazy import is still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kodo_bot

ROOT = Path(kodo_bot.__file__).parent
#: what the engine may import of kodo-bot: its own modules and the small neutral helpers beside it
ENGINE_MAY_USE = {
    "kodo_bot.engine",
    "kodo_bot.errors",
    "kodo_bot.redact",
    "kodo_bot.confine",
    "kodo_bot._git_env",
    "kodo_bot._files",
    "kodo_bot.secret_names",
}


def _unit(module: str) -> str:
    """A subpackage counts as one unit (kodo_bot.engine), a top-level module as itself (kodo_bot.cli)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name == "kodo_bot" or name.startswith("kodo_bot.")}


def _graph() -> dict[str, dict[str, set[str]]]:
    """unit -> unit it imports -> the modules that do it (for the failure message)."""
    modules = {_module_name(p) for p in ROOT.rglob("*.py")}
    graph: dict[str, dict[str, set[str]]] = {}
    for path in ROOT.rglob("*.py"):
        source = _module_name(path)
        for name in _imports(path):
            while name not in modules and "." in name:
                name = name.rsplit(".", 1)[0]  # `from kodo_bot.engine import events` names a module or an attribute
            a, b = _unit(source), _unit(name)
            if a != b:
                graph.setdefault(a, {}).setdefault(b, set()).add(source)
    return graph


def _cycle(graph: dict[str, dict[str, set[str]]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_package_imports_another_in_a_cycle():
    graph = _graph()
    cycle = _cycle(graph)
    assert cycle is None, (
        " -> ".join(cycle)
        + "\n"
        + "\n".join(f"  {a} -> {b} in {sorted(graph[a][b])}" for a, b in zip(cycle, cycle[1:], strict=False))
    )


def test_the_engine_imports_no_adapter():
    used = _graph().get("kodo_bot.engine", {})
    foreign = {unit: sorted(where) for unit, where in used.items() if unit not in ENGINE_MAY_USE}
    assert not foreign, f"the engine imports adapters or entry points: {foreign}"


@pytest.mark.parametrize("package", ["kodo_bot.agents", "kodo_bot.orchestrators"])
def test_adapters_use_only_the_engines_models_and_ports(package):
    allowed = {"kodo_bot.engine.models", "kodo_bot.engine.ports"}
    offending = []
    for path in (ROOT / package.split(".")[1]).rglob("*.py"):
        for name in _imports(path):
            if name.startswith("kodo_bot.engine") and not any(name == a or name.startswith(a + ".") for a in allowed):
                offending.append(f"{_module_name(path)} imports {name}")
    assert not offending, offending


def test_the_checker_sees_a_cycle_when_there_is_one():
    graph = {"a": {"b": {"a.x"}}, "b": {"c": {"b.y"}}, "c": {"a": {"c.z"}}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b": {"a.x"}}, "b": {}}) is None
