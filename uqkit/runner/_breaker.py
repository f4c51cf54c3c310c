"""The circuit breaker: stop a study whose model is broken, not one with scattered failures.

The rule (also stated in :class:`uqkit.Runner`'s docstring and the README):

- An *evaluation* is one model call: one row of a scalar model, or one batch of
  a vectorized model. A batch counts as a failed evaluation when at least
  :data:`NEARLY_ALL` of its rows failed (raised, timed out, non-finite...).
  A failed batch that is split to isolate its failing rows counts only
  through its parts.
- The breaker trips after ``max_consecutive_failures`` consecutive failed
  evaluations, or when the failed fraction of the rows of the most recent
  evaluations reaches ``max_failure_rate``, once those evaluations cover at
  least ``window`` rows (``max(100, 10 * max_consecutive_failures)``).
- Known failures, i.e. rows already stored as failed and retried by a rerun,
  are no new evidence: if they fail again they are reported as before but not
  counted (if they succeed, they count as successes).
"""

from __future__ import annotations

from collections import deque

__all__ = ["Breaker", "NEARLY_ALL", "breaker_window"]

#: a vectorized batch with at least this fraction of failed rows is a failed evaluation
NEARLY_ALL = 0.9


def breaker_window(max_consecutive_failures: int) -> int:
    """Rows over which the failure rate is measured."""
    return max(100, 10 * max_consecutive_failures)


class Breaker:
    """Counts evaluation outcomes in the order they arrive (see the module docstring)."""

    __slots__ = ("k", "rate", "window", "consecutive", "recent", "rows", "failed")

    def __init__(self, max_consecutive_failures: int, max_failure_rate: float) -> None:
        self.k = max_consecutive_failures
        self.rate = max_failure_rate
        self.window = breaker_window(max_consecutive_failures)
        self.consecutive = 0
        self.recent: deque[tuple[int, int]] = deque()  # (rows, failed rows) per evaluation
        self.rows = 0
        self.failed = 0

    def ok(self, rows: int) -> None:
        """An evaluation of ``rows`` rows that all succeeded (the hot path)."""
        self.consecutive = 0
        self._add(rows, 0)

    def record(self, rows: int, failed: int) -> str | None:
        """Count one evaluation; return why the breaker trips, or None."""
        if rows <= 0:
            return None
        if failed >= NEARLY_ALL * rows:
            self.consecutive += 1
        else:
            self.consecutive = 0
        self._add(rows, failed)
        if self.consecutive >= self.k:
            return (f"{self.consecutive} consecutive evaluations")
        if failed and self.rows >= self.window and self.failed >= self.rate * self.rows:
            return f"{self.failed} of the last {self.rows} evaluated rows"
        return None

    def _add(self, rows: int, failed: int) -> None:
        recent = self.recent
        recent.append((rows, failed))
        self.rows += rows
        self.failed += failed
        # keep the fewest recent evaluations that still cover the window
        while len(recent) > 1 and self.rows - recent[0][0] >= self.window:
            r, f = recent.popleft()
            self.rows -= r
            self.failed -= f
