"""What a run cost, per agent and per provider (Claude, Codex, Gemini, Cursor), in two buckets.

``api``: what the user pays per token, and so what ``--max-cost-usd`` limits: the orchestrator on a model API,
and agents whose CLI runs on an API key (Codex, the Gemini CLI; their session says so in
``AgentResult.billing``). ``subscription``: what the agents' CLIs use on the user's plans (Claude Code's own
figure, Cursor's), and a Claude Code orchestrator's; shown so they can see where the work went, never
counted against the budget.

Who pays is the session's to say; which provider did the work is the engine's, from the team's ``backend:``
(``PROVIDERS``) and the orchestrator's reply.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from kodo_bot.engine.models import AgentCost, AgentResult, Bucket, CostReport, Usage

#: the provider whose model an agent on each backend uses, as the cost tables name it
PROVIDERS = {"claude_code": "Claude", "codex": "Codex", "gemini_cli": "Gemini", "cursor": "Cursor"}

#: USD per million tokens (input, output) by model family; the first matching key wins.
_PRICES: list[tuple[str, tuple[float, float]]] = [
    ("opus-4-1", (15.0, 75.0)),
    ("opus-4-0", (15.0, 75.0)),
    ("claude-opus-4-2", (15.0, 75.0)),
    ("opus", (5.0, 25.0)),
    ("sonnet", (3.0, 15.0)),
    ("haiku-3", (0.25, 1.25)),
    ("haiku", (1.0, 5.0)),
    # Gemini (USD per million tokens, prompts up to 200k; thinking tokens are billed as output)
    ("gemini-3-pro", (2.0, 12.0)),
    ("gemini-2.5-pro", (1.25, 10.0)),
    ("gemini-2.5-flash-lite", (0.10, 0.40)),
    ("gemini-2.5-flash", (0.30, 2.50)),
    ("gemini-2.0-flash-lite", (0.075, 0.30)),
    ("gemini-2.0-flash", (0.10, 0.40)),
    ("gemini", (1.25, 10.0)),  # another Gemini: priced like Pro, so a budget errs on the safe side
]
#: models we know nothing about are priced like a mid-range model rather than as free
DEFAULT_PRICE = (3.0, 15.0)


def api_cost_usd(model: str, usage: Usage) -> float:
    price_in, price_out = next((p for key, p in _PRICES if key in model.lower()), DEFAULT_PRICE)
    per_token_in = price_in / 1_000_000
    return (
        usage.input_tokens * per_token_in
        + usage.cache_creation_tokens * per_token_in * 1.25
        + usage.cache_read_tokens * per_token_in * 0.1
        + usage.output_tokens * price_out / 1_000_000
    )


class Ledger(BaseModel):
    """Mutable running totals; checkpointed with the run."""

    entries: dict[str, AgentCost] = Field(default_factory=dict)

    def add(self, who: str, bucket: Bucket, usd: float, usage: Usage, *, provider: str = "") -> None:
        call = AgentCost(bucket=bucket, usd=usd, calls=1, usage=usage, provider=provider)
        self.entries[who] = self.entries[who].plus(call) if who in self.entries else call

    def charge(self, who: str, result: AgentResult, backend: str) -> None:
        """One agent call: its cost in the bucket its session named, under its backend's provider."""
        self.add(who, result.billing, result.cost_usd, result.usage, provider=PROVIDERS.get(backend, backend))

    def total(self, bucket: Bucket) -> float:
        return sum(c.usd for c in self.entries.values() if c.bucket == bucket)

    def report(self) -> CostReport:
        return CostReport(
            api_usd=round(self.total("api"), 6),
            subscription_usd=round(self.total("subscription"), 6),
            by_agent=dict(self.entries),
        )
