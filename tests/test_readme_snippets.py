"""The README's code that a new user copies first runs as written."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    hits = [b for b in blocks if containing in b]
    assert len(hits) == 1, containing
    return hits[0]


@pytest.mark.slow  # two NEURON runs: about 5 s
def test_command_model_snippet_runs(tmp_path, monkeypatch, capsys):
    # the snippet is complete: its imports, a shipped template, a run
    nrniv = Path(sys.executable).parent / "nrniv"
    if not nrniv.exists() and shutil.which("nrniv") is None:
        pytest.skip("NEURON (nrniv) is not installed")
    if nrniv.exists():
        monkeypatch.setenv("PATH", f"{nrniv.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_block("uqkit.CommandModel("), "README.md", "exec"), namespace)
    ev = namespace["ev"]
    assert ev.ok.all()
    n_spikes, v_max, _ = ev.Y.T
    assert n_spikes[0] >= 3 and n_spikes[1] == 0  # the classic HH soma fires; at rest not
    assert 30 < v_max[0] < 50 and np.isfinite(ev.Y).all()
