"""The page: one self-contained HTML file (inline CSS and JS, no network), with the run's data embedded.

The data goes in as JSON inside ``<script type="application/json">``, which the browser never runs; every
``<``, ``>`` and ``&`` in it is written as a ``\\u003c``-style escape, so nothing an agent wrote (``</script>``,
``<!--``) can end that element early. The page's script builds the DOM with ``textContent`` only.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from functools import cache
from importlib import resources
from typing import Any

#: the page's Content-Security-Policy: no request leaves it but the live page's own data, and the only script
#: that may run is the viewer's own (by its hash), so even markup that got in could run nothing
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; script-src '{script}'"


@cache
def _asset(name: str) -> str:
    return (resources.files("kodo_bot") / "data" / "viewer" / name).read_text(encoding="utf-8")


def embed_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` at all."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def render_page(view: dict[str, Any]) -> str:
    """The whole HTML document for one run's view (``_model.build_view``)."""
    run = view.get("run") or {}
    script = "\n" + _asset("viewer.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    title = f"kodo-bot run {run.get('run_id', '?')}: {run.get('goal_title', '')}"
    return (
        "<!DOCTYPE html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP.format(script="sha256-" + digest)}">\n'
        '<meta name=viewport content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title[:200])}</title>\n<style>\n{_asset('viewer.css')}</style>\n</head>\n<body>\n"
        '<main id="app"><p>Drawing the run (this page needs JavaScript).</p></main>\n'
        f'<script type="application/json" id="kodo-data">{embed_json(view)}</script>\n'
        f"<script>{script}</script>\n</body>\n</html>\n"
    )
