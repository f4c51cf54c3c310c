"""A tqdm progress bar over a calibration's model runs, following the Runner's setting."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress"]


def _interactive() -> bool:
    """A terminal or a Jupyter kernel (where tqdm.auto draws a widget)."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class Progress:
    """Model runs done out of the budget, with the stage in the postfix.

    ``runner.progress`` decides: False shows nothing; True always shows the bar;
    ``"auto"`` shows it in a terminal or a notebook only, after 2 seconds (as the
    Runner's own bars).
    """

    def __init__(self, runner: Any, total: int | None, desc: str = "calibrating") -> None:
        self.bar = None
        self.done = 0
        setting = getattr(runner, "progress", False)
        if setting is False or (setting == "auto" and not _interactive()):
            return
        import warnings

        from tqdm.auto import tqdm
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tqdm.auto's IProgress notice
            self.bar = tqdm(total=total, desc=desc, unit="run",
                            delay=0 if setting is True else 2.0, leave=False)

    def update(self, done: int, status: str = "") -> None:
        """Set the runs done so far (and a short status, e.g. the temperature)."""
        if self.bar is None:
            return
        if done > self.done:
            self.bar.update(done - self.done)
            self.done = done
        if status:
            self.bar.set_postfix_str(status, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
