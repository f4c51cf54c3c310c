"""The notebook notebooks/01_wrap_a_simulator.ipynb executes end to end (NEURON needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_wrap_a_simulator.ipynb"


@pytest.mark.slow
@pytest.mark.neuron
def test_wrap_a_simulator_notebook_runs(tmp_path, monkeypatch):
    pytest.importorskip("neuron")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    import uqkit

    root = str(Path(uqkit.__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "\n".join(o.get("text", "") or str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "(0, 6)" in text          # the rerun is served from the store
    assert "not a MECHANISM" in text  # the broken template is a classified failure
    assert "True" in text            # remote results equal the local ones
