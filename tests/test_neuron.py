"""A real external simulator: NEURON's nrniv running a Hodgkin-Huxley soma from a hoc
template, through CommandModel on a 2-process Runner.

Cross-checked against the same cell built with NEURON's Python API in a separate process
(a different code path through NEURON: no template, no hoc parsing of the values).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import uqkit
from uqkit import parsers

neuron = pytest.importorskip("neuron")
pytestmark = pytest.mark.neuron
HOC = Path(__file__).parent / "fakesim" / "hh_soma.hoc"

REFERENCE = """
import json, sys
from neuron import h
h.load_file("stdrun.hoc")
out = []
for gnabar, gkbar, amp in json.loads(sys.argv[1]):
    soma = h.Section(name="soma")
    soma.L = soma.diam = 20
    soma.nseg = 1
    soma.insert("hh")
    seg = soma(0.5)
    seg.hh.gnabar, seg.hh.gkbar, seg.hh.gl = gnabar, gkbar, 0.0003
    stim = h.IClamp(seg)
    stim.delay, stim.dur, stim.amp = 5, 40, amp
    apc = h.APCount(seg)
    apc.thresh = 0
    spikes = h.Vector()
    apc.record(spikes)
    v = h.Vector().record(seg._ref_v)
    h.tstop, h.dt, h.v_init = 50, 0.025, -65
    h.run()
    out.append([apc.n, v.max(), spikes[0] if apc.n > 0 else 50.0])
    del soma, stim, apc
print(json.dumps(out))
"""


def _nrniv() -> str:
    local = Path(sys.executable).parent / "nrniv"  # the wheel's launcher next to python
    found = str(local) if local.exists() else shutil.which("nrniv")
    if found is None:
        pytest.skip("nrniv not found")
    return found


def test_hodgkin_huxley_soma_through_command_model(tmp_path):
    model = uqkit.CommandModel(
        [_nrniv(), "-nobanner", "-nogui", "soma.hoc"],
        inputs=["gnabar", "gkbar", "amp"], outputs=["n_spikes", "v_max", "first_spike"],
        files={"soma.hoc": HOC}, parse=parsers.json("out.json"), timeout=120,
        workdir=tmp_path, name="hh_soma", version=neuron.__version__)
    X = np.array([
        [0.12, 0.036, 0.2],     # the classic HH soma: repetitive firing
        [0.12, 0.036, 0.0],     # no stimulus: rest
        [0.12, 0.036, 0.01],    # below threshold
        [0.0, 0.036, 0.2],      # no sodium channels: no spike
        [0.1234567890123457, 0.03, 0.4],  # many digits, passed exactly
        [0.12, 0.036, 0.4],     # stronger drive: more spikes
    ])
    with uqkit.Runner(executor=2) as runner:
        ev = runner.evaluate(model, X)
    assert ev.ok.all() and ev.n_new == 6
    n_spikes, v_max, first = ev.Y.T
    assert n_spikes[0] >= 3 and 30 < v_max[0] < 50      # overshoot of an HH action potential
    assert n_spikes[1] == 0 and abs(v_max[1] + 65) < 0.5  # stays at rest
    assert n_spikes[2] == 0 and n_spikes[3] == 0
    assert n_spikes[5] >= n_spikes[0] and first[5] < first[0]  # stronger drive fires sooner
    reference = subprocess.run(
        [sys.executable, "-c", REFERENCE, json.dumps(X.tolist())], capture_output=True,
        text=True, check=True, timeout=120).stdout
    ref = np.array(json.loads(reference.strip().splitlines()[-1]))
    np.testing.assert_allclose(ev.Y, ref, rtol=1e-12, atol=0)  # deterministic code


def test_neuron_failures_are_classified(tmp_path):
    broken = HOC.read_text().replace("insert hh", "insert no_such_mechanism")
    model = uqkit.CommandModel(
        [_nrniv(), "-nobanner", "-nogui", "soma.hoc"], inputs=["gnabar", "gkbar", "amp"],
        outputs=["n_spikes", "v_max", "first_spike"], files={"soma.hoc": broken},
        parse=parsers.json("out.json"), timeout=120, workdir=tmp_path)
    with pytest.raises(uqkit.EvaluationFailure) as info:
        model([[0.12, 0.036, 0.2]])
    assert info.value.kind in ("nonzero_exit", "missing_output")
    assert "no_such_mechanism" in (info.value.details.get("stderr_tail", "")
                                   + Path(info.value.details["workdir"], "stdout.txt")
                                   .read_text())
