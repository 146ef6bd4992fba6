"""Which model directs the team: one choice, spelled the same on the command line (``--orchestrator``), in
the team file and ``.github/kodo.yml`` (``orchestrator:``) and in the action's ``orchestrator`` input.

- ``api:anthropic:<model>``: the Anthropic Messages API (a paid key; the cost goes to the ``api`` bucket);
- ``api:gemini:<model>``: the Gemini API (a Gemini key; ``api`` bucket);
- ``claude-code:<model>``: Claude Code itself, on the subscription the agents use (no API key at all).

The model may be left out (``api:gemini``, or just ``gemini``, ``anthropic``, ``claude-code``): each kind
has a default. Pure: which adapter answers is the composition root's business (``compose``).
"""

from __future__ import annotations

from typing import Literal, get_args

from kodo_bot.engine.models import DEFAULT_ORCHESTRATOR_MODEL
from kodo_bot.errors import ConfigError

OrchestratorKind = Literal["api:anthropic", "api:gemini", "claude-code"]
KINDS: tuple[OrchestratorKind, ...] = get_args(OrchestratorKind)

DEFAULT_MODELS: dict[OrchestratorKind, str] = {
    "api:anthropic": DEFAULT_ORCHESTRATOR_MODEL,
    "api:gemini": "gemini-2.5-flash",
    "claude-code": "sonnet",
}
_SHORT: dict[str, OrchestratorKind] = {"anthropic": "api:anthropic", "gemini": "api:gemini"}

CHOICES = "api:anthropic:<model>, api:gemini:<model> or claude-code:<model>"


def parse_orchestrator(spec: str, *, field: str = "--orchestrator") -> tuple[OrchestratorKind, str]:
    """``spec`` as (kind, model); a clear error naming the choices and where the bad value was."""
    text = spec.strip()
    for kind in sorted(KINDS, key=len, reverse=True):
        if text == kind or text.startswith(kind + ":"):
            model = text[len(kind) + 1 :].strip() or DEFAULT_MODELS[kind]
            return kind, model
    for short, kind in _SHORT.items():
        if text == short or text.startswith(short + ":"):
            return kind, text[len(short) + 1 :].strip() or DEFAULT_MODELS[kind]
    raise ConfigError(
        f"{field + ': ' if field else ''}unknown orchestrator {spec!r}",
        hint=f"choose {CHOICES}, for example api:gemini:gemini-2.5-flash or claude-code:sonnet",
    )


def orchestrator_fields(spec: str | None, model: str | None = None, *, field: str) -> dict[str, str]:
    """``RunSettings``' fields for a choice (``spec``) and a model given on its own, which wins."""
    fields: dict[str, str] = {}
    if spec:
        kind, spec_model = parse_orchestrator(spec, field=field)
        fields = {"orchestrator_kind": kind, "orchestrator_model": spec_model}
    if model:
        fields["orchestrator_model"] = model
    return fields


def checked_spec(spec: str | None) -> str | None:
    """For a settings file's validator: the spec unchanged when it parses; a ValueError saying why not."""
    if spec is not None:
        try:
            parse_orchestrator(spec, field="")  # the validation error names the field
        except ConfigError as exc:
            raise ValueError(f"{exc} ({exc.hint})") from None
    return spec
