"""Self-contained HTML study reports: :func:`report` and the HTML building blocks."""

from __future__ import annotations

from ._report import report

__all__ = ["report"]
