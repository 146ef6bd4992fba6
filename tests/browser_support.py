"""Pages in a real headless Chromium (the ``browser`` fixture, in conftest.py)."""

from __future__ import annotations

from typing import Any

#: text an agent (or a stranger) could write, that must never run wherever kodo-bot shows it
PAYLOAD = (
    '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=1">'
    '<svg onload="window.__pwned=1"></svg><!--'
)


class Page:
    """A tab on a page, with every console error and uncaught exception it had; ``ready``: a selector the
    page has once drawn."""

    def __init__(self, browser: Any, url: str, *, ready: str | None = None) -> None:
        self.tab = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.tab.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.tab.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.tab.goto(url)
        if ready:
            self.tab.wait_for_selector(ready)

    def text(self) -> str:
        return str(self.tab.inner_text("body"))

    def pwned(self) -> bool:
        return bool(self.tab.evaluate("() => window.__pwned === 1"))
