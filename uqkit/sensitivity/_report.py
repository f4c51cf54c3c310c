"""HTML building blocks for the per-result reports (see :mod:`uqkit.reports._html`).

The blocks live in :mod:`uqkit.reports` so :func:`uqkit.report` and the
``report()`` methods of the results share one page shell, one escaped table and
one figure embedding.
"""

from __future__ import annotations

from uqkit.reports._html import (
    definition_list,
    esc,
    figure_png,
    fmt,
    page,
    table,
    write_page,
)

__all__ = ["esc", "fmt", "figure_png", "table", "definition_list", "page", "write_page"]
