"""The run's memory and voice: its state, the checkpoint after each step, and the events the step tells.

Every part of the loop writes through one ``Journal`` so the rule holds everywhere: the events a step tells
go out only after the write that records the step. After a crash, what the log lacks of the last step's
events (the ``outbox``) is told by the resume (``launch``), and nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kodo_bot.engine import events as ev
from kodo_bot.engine.state import RunState, RunStore


class Journal:
    def __init__(
        self, state: RunState, store: RunStore, bus: ev.EventBus, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.state, self.store, self.bus, self.clock = state, store, bus, clock
        self._started = clock()
        self._elapsed_before = state.elapsed_s

    def elapsed(self) -> float:
        """Seconds the run has worked, across every process that worked on it."""
        return self._elapsed_before + (self.clock() - self._started)

    def checkpoint(self, *events: ev.Event) -> None:
        """Save the state with the events of the step that changed it, then tell them."""
        s = self.state
        s.elapsed_s = self.elapsed()
        s.outbox = [self.bus.number(event) for event in events]
        s.next_seq = self.bus.next_seq
        self.store.save(s)
        for event in s.outbox:
            self.bus.deliver(event)

    def emit(self, event: ev.Event) -> None:
        """Tell an event that records nothing the run would need to decide again (a start, a notice)."""
        self.bus.emit(event)
        self.state.next_seq = self.bus.next_seq
