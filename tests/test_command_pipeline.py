"""Pipeline: a compiled external simulator through CommandModel, a process pool, a store and
uqkit.sobol gives the same indices as the in-process function (it is just a Model)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import uqkit
from uqkit import parsers

FAKESIM = Path(__file__).parent / "fakesim"


def test_sobol_on_an_external_ishigami(tmp_path):
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "ishigami"
    subprocess.run([gcc, "-O2", "-o", str(exe), str(FAKESIM / "ishigami.c"), "-lm"], check=True)
    external = uqkit.CommandModel([str(exe)], inputs=["x1", "x2", "x3"], outputs=["y"],
                                  files={"in.txt": "{{ x1 }} {{ x2 }} {{ x3 }}\n"},
                                  parse=parsers.numbers("stdout.txt"), workdir=tmp_path / "w")
    model, params, ref = uqkit.examples.ishigami()
    with uqkit.Runner(executor=2, store=tmp_path / "s.sqlite", progress=False) as runner:
        res = uqkit.sobol(external, params, 128, rng=3, n_resamples=200, runner=runner)
        again = uqkit.sobol(external, params, 128, rng=3, n_resamples=200, runner=runner)
    local = uqkit.sobol(model, params, 128, rng=3, n_resamples=200)
    # same design, same doubles in and (up to libm's last bit) out: the same indices
    np.testing.assert_allclose(res.first.to_numpy(), local.first.to_numpy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(res.total.to_numpy(), local.total.to_numpy(), rtol=0, atol=1e-9)
    assert res.n_evaluations == local.n_evaluations == 128 * 5
    assert list(again.first.to_numpy().ravel()) == list(res.first.to_numpy().ravel())
    # and against the closed form: within 4 bootstrap standard errors at n = 128 (the 1e-3
    # floor covers S1(x3) = 0, whose bootstrap SE can be near zero)
    se = res.first_se.to_numpy().ravel()
    assert np.all(np.abs(res.first.to_numpy().ravel() - ref.first.to_numpy()) < 4 * se + 1e-3)
