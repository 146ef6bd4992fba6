"""``doctor``'s model check: can the orchestrator the run will use answer? One free request per kind:

- ``api:anthropic``: ``POST /v1/messages/count_tokens`` with the key (``x-api-key``), at ``ANTHROPIC_BASE_URL``;
- ``api:gemini``: ``GET /v1beta/models/<model>`` with the key (``x-goog-api-key``), at ``GOOGLE_GEMINI_BASE_URL``;
- ``claude-code``: no API and no key: it runs on the Claude Code CLI and the agents' credentials, checked
  on their own lines.

Only the key's variable name and the status code reach the output, never the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from kodo_bot.engine.orchestrator_choice import parse_orchestrator
from kodo_bot.errors import ConfigError

NAME = "orchestrator model"
_ANTHROPIC_KEYS = ("KODO_ORCHESTRATOR_API_KEY", "ANTHROPIC_API_KEY")
_GEMINI_KEYS = ("KODO_ORCHESTRATOR_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY")


def model_check(env: Mapping[str, str], spec: str | None) -> tuple[str, str, str]:
    """(status, detail, fix) for the orchestrator ``spec`` (default ``KODO_ORCHESTRATOR``, else Anthropic's)."""
    try:
        kind, model = parse_orchestrator(spec or env.get("KODO_ORCHESTRATOR") or "api:anthropic")
    except ConfigError as exc:
        return "fail", str(exc), exc.hint or ""
    model = env.get("KODO_ORCHESTRATOR_MODEL") or model
    if kind == "claude-code":
        return "ok", f"claude-code:{model} runs on the Claude Code CLI and the agents' credentials (no API key)", ""
    keys = _ANTHROPIC_KEYS if kind == "api:anthropic" else _GEMINI_KEYS
    key_name = next((k for k in keys if (env.get(k) or "").strip()), None)
    if key_name is None:
        return "fail", f"{kind}: none of {', '.join(keys)} is set", f"set {keys[0]} to the {kind[4:]} API key"
    key = env[key_name].strip()
    if kind == "api:anthropic":
        base = (env.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com").rstrip("/")
        ask: dict[str, Any] = {
            "method": "POST",
            "url": f"{base}/v1/messages/count_tokens",
            "headers": {"x-api-key": key, "anthropic-version": "2023-06-01"},
            "json": {"model": model, "messages": [{"role": "user", "content": "ping"}]},
        }
        base_var = "ANTHROPIC_BASE_URL"
    else:
        base = (env.get("GOOGLE_GEMINI_BASE_URL") or "https://generativelanguage.googleapis.com").rstrip("/")
        ask = {"method": "GET", "url": f"{base}/v1beta/models/{model}", "headers": {"x-goog-api-key": key}}
        base_var = "GOOGLE_GEMINI_BASE_URL"
    try:
        status = requests.request(timeout=20, **ask).status_code
    except requests.RequestException as exc:
        return "fail", f"{base} did not answer ({type(exc).__name__})", f"check the network, or {base_var}"
    if status == 200:
        return "ok", f"{kind}:{model} at {base} answers ({key_name})", ""
    if status in (401, 403):
        return "fail", f"{base} refused {key_name} ({status})", f"check {key_name}"
    return "fail", f"{base} answered {status} for {model}", f"check the model name (--orchestrator) and {base_var}"
