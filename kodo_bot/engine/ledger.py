"""What a run cost, per agent, in two buckets.

``api``: the orchestrator's calls on the model API, paid per token by the user (and what ``--max-cost-usd``
limits). ``subscription``: what Claude Code reports for the agents, covered by the user's subscription; shown
so they can see where the work went, never counted against the API budget.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from kodo_bot.engine.models import AgentCost, Bucket, CostReport, Usage

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

    def add(self, who: str, bucket: Bucket, usd: float, usage: Usage) -> None:
        prev = self.entries.get(who, AgentCost(bucket=bucket))
        self.entries[who] = AgentCost(bucket=bucket, usd=prev.usd + usd, calls=prev.calls + 1, usage=prev.usage + usage)

    def total(self, bucket: Bucket) -> float:
        return sum(c.usd for c in self.entries.values() if c.bucket == bucket)

    def report(self) -> CostReport:
        return CostReport(
            api_usd=round(self.total("api"), 6),
            subscription_usd=round(self.total("subscription"), 6),
            by_agent=dict(self.entries),
        )
