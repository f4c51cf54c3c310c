"""What every report section builder shares: the report's context and fact helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._document import Section

__all__ = ["Context", "info_of", "seeds_of", "simple", "split_facts"]


def info_of(obj: Any) -> dict:
    """A result's ``info`` mapping as a dict (empty when it has none)."""
    info = getattr(obj, "info", None)
    return dict(info) if isinstance(info, Mapping) else {}


def seeds_of(obj: Any) -> Any:
    """The seed a result records (``info["seed"]``), if any."""
    return info_of(obj).get("seed")


def simple(info: Mapping) -> dict:
    """The scalar entries of ``info`` (what a facts list can show)."""
    return {k: v for k, v in info.items()
            if isinstance(v, (str, int, float, bool, np.integer, np.floating)) or v is None}


@dataclass
class Context:
    """What the whole report knows that one result may not: series axes and the truth."""

    axes: dict[str, dict[str, Any]] = field(default_factory=dict)
    truth: dict[str, float] = field(default_factory=dict)

    def axis(self, result: Any, group: str) -> dict[str, Any]:
        recorded = (info_of(result).get("axes") or {}).get(group)
        return dict(recorded or self.axes.get(group) or {})


def split_facts(s: Section, main: dict, info: Mapping) -> None:
    """The headline facts, then every other simple setting in a closed block."""
    s.facts(main)
    rest = {k: v for k, v in simple(info).items() if k not in main}
    if rest:
        s.facts(rest, "all settings", collapsed=True)
