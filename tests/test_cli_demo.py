"""``uqkit demo`` at a tiny size: the bundled study end to end, then resumed from the store."""

from __future__ import annotations

import json

import uqkit
from uqkit.cli import main


def _kinds(doc) -> list[str]:
    return [s["kind"] for s in doc["sections"]]


def test_demo_tiny_end_to_end_and_rerun_reuses_the_store(tmp_path, capsys):
    out = tmp_path / "uqkit-demo"
    assert main(["demo", "--out", str(out), "-n", "8", "--workers", "0", "-q"]) == 0
    html = out / "report.html"
    assert html.exists() and (out / "report.json").exists()
    assert (out / "cardiac.toml").exists() and (out / "study.db").exists()
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    kinds = _kinds(doc)
    for k in ("parameters", "model", "sobol", "pce", "store", "counts"):
        assert k in kinds, k
    try:
        uqkit.calibrate  # noqa: B018
        has_calibrate = True
    except (ImportError, AttributeError):
        has_calibrate = False
    assert ("posterior" in kinds) == has_calibrate
    if hasattr(uqkit.examples, "cardiac_cable"):
        tables = [b["name"] for s in doc["sections"] for b in s["blocks"]
                  if b["type"] == "table"]
        assert "Indices of apd" in tables and "Indices of cv" in tables
    with uqkit.Store(out / "study.db") as store:
        before = int(store.summary()["total"].sum())
    # the demo's study file is a normal study: a rerun makes no new model evaluation
    assert main(["run", "-q", str(out / "cardiac.toml")]) == 0
    with uqkit.Store(out / "study.db") as store:
        assert int(store.summary()["total"].sum()) == before
    capsys.readouterr()
    assert main(["demo", "--out", str(out), "-n", "12"]) == 2
    assert "power of 2" in capsys.readouterr().err
