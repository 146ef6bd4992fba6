"""How the GitHub sink tries one item, and what a failure means for the run.

Each step of the sink hands :meth:`Delivery.attempt` a name, the request to make, and how to forget the
item. ``Attempts`` says what became of it: done; to retry on a later pass; refused for good, which drops
the item, asks the run to stop at its next cycle end and ends it as ``error``; or, once closing, given up.

Not here: the requests themselves (the steps), or when passes happen (``_pacing``, ``_sink_worker``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from kodo_bot.github._attempts import Attempts
from kodo_bot.github._pacing import Pacing
from kodo_bot.github._sink_state import SinkState


class Step(Protocol):
    """One kind of item the sink delivers (a push, the PR, the rounds ...): tries what is due, if anything."""

    def deliver(self, d: Delivery) -> bool:
        """True when nothing is left to retry."""
        ...


class Delivery:
    def __init__(self, state: SinkState, attempts: Attempts, pacing: Pacing) -> None:
        self.state, self.attempts, self.pacing = state, attempts, pacing

    def attempt(self, what: str, action: Callable[[], object], drop: Callable[[], object]) -> bool:
        """Try one item. True when there is nothing to retry: it worked, or it is dropped (``drop`` forgets
        it) because GitHub refused it for good or, when closing, it kept failing."""
        result = self.attempts.run(what, action, closing=self.state.closing, wait_limit=self.pacing.wait_limit())
        if result in ("refused", "given_up"):
            with self.state.cv:
                drop()
        if result == "refused":
            with self.state.cv:
                self.state.refused_for_good(self.attempts.refusal_reason)
        return result != "retry"

    def blocked(self) -> bool:
        """A used-up rate limit: nothing gets through before it resets."""
        return self.attempts.blocked(self.pacing.wait_limit())
