"""HTML views of a posterior, built by the shared report shell in :mod:`uqkit.reports`."""

from __future__ import annotations

from typing import Any

__all__ = ["posterior_html_table", "write_report"]


def posterior_html_table(post: Any) -> str:
    """The notebook card: convergence verdict, sampler facts and the summary table."""
    from ..reports._posterior import posterior_card

    return posterior_card(post)


def write_report(post: Any, path: Any) -> str:
    """Write the self-contained HTML report of one posterior (and its JSON beside it)."""
    from ..reports._report import write_result_report

    return write_result_report(post, path, title="Calibration report")
