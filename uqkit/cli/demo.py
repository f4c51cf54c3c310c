"""``uqkit demo``: the bundled two-scale cardiac study, end to end.

Writes a study file (``cardiac.toml``) and synthetic noisy measurements
(``measurements.csv``) into the output folder, then runs the study exactly as
``uqkit run`` would: Sobol' indices of the action-potential duration (APD), the
conduction velocity (CV) and the activation series; a polynomial chaos
surrogate with an independent validation; and, when :func:`uqkit.calibrate` is
available, the calibration of the cell parameters against the measurements. All
evaluations go to the embedded SQLite store, so a rerun (or an interrupted run
started again) reuses them. The report is ``<out>/report.html``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

__all__ = ["register", "run_demo", "demo_study"]

DEFAULT_SIZE = 512

# Aliev & Panfilov (1996) cell parameters, D = 1 mm^2/ms (Goktepe & Kuhl 2009):
# the "true" values behind the synthetic measurements.
_CARDIAC_TRUTH = {"D": 1.0, "k": 8.0, "a": 0.15, "eps0": 0.003, "mu1": 0.25}
# two measurements (APD, CV) identify two cell parameters, the excitability threshold a and
# the recovery rate eps0, once D, k and mu1 are held at their values (with all four cell
# parameters free the posterior is a ridge and the demo's budget does not converge)
_CARDIAC_FIXED = {"D": 1.0, "k": 8.0, "mu1": 0.25}
_CARDIAC_NOISE = {"apd": 4.0, "cv": 0.01}   # ms, m/s: a good optical-mapping experiment


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="run the bundled cardiac study and write uqkit-demo/report.html",
        description="Run the bundled two-scale cardiac study (Aliev-Panfilov cells in a "
                    "1-D monodomain cable): Sobol' indices of APD and conduction velocity, "
                    "a polynomial chaos surrogate and the calibration of the cell parameters "
                    "to noisy synthetic measurements, on the embedded SQLite store.")
    p.add_argument("--out", default="uqkit-demo", help="output folder (default: uqkit-demo)")
    p.add_argument("-n", "--size", type=int, default=DEFAULT_SIZE,
                   help="Sobol' base sample size, a power of 2 >= 8; the other analyses "
                        f"scale with it (default {DEFAULT_SIZE}: about a minute on 2 cores)")
    p.add_argument("--workers", type=int, default=2,
                   help="worker processes (default 2; 0 evaluates in this process)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--no-calibrate", action="store_true", help="skip the calibration")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or messages")
    p.set_defaults(func=run_demo)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string is a JSON string for these characters
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(type(v).__name__)  # pragma: no cover


def demo_study(out: Path, size: int, workers: int, seed: int, calibrate: bool) -> str:
    """The study file text of the demo at ``size`` (and its measurements file, written)."""
    import numpy as np
    import pandas as pd

    import uqkit

    has_cardiac = hasattr(uqkit.examples, "cardiac_cable")
    if has_cardiac:
        entry, title = "uqkit.examples:cardiac_cable", (
            "Two-scale cardiac study: Aliev-Panfilov cells in a monodomain cable")
        example = uqkit.examples.cardiac_cable()
        truth, noise, fixed = _CARDIAC_TRUTH, dict(_CARDIAC_NOISE), dict(_CARDIAC_FIXED)
    else:  # the cardiac example is not in this installation: same study on the borehole
        entry, title = "uqkit.examples:borehole", (
            "Demo study (borehole function; uqkit.examples.cardiac_cable is not installed)")
        example = uqkit.examples.borehole()
        truth = dict(zip(example.parameters.names, example.parameters.mean.tolist()))
        noise, fixed = {example.model.outputs[0]: 2.0}, {}
    model = example.model
    lines = [
        "# The uqkit demo study, written by `uqkit demo`. Edit it and run",
        "#   uqkit run cardiac.toml",
        "[study]", "name = \"demo\"", f"seed = {seed}", f"title = {_toml_value(title)}", "",
        "[model]", f"entry_point = {_toml_value(entry)}", "",
        "[analyses.sobol]", f"n = {size}", "",
        "[analyses.pce]", f"n = {max(16, size // 2)}", f"validation = {max(8, size // 4)}", ""]
    if calibrate:
        rng = np.random.default_rng(seed)
        x_true = np.array([[truth[n] for n in model.inputs]])
        y_true = np.asarray(model(x_true), dtype=float)[0]
        row = {o: float(y_true[list(model.outputs).index(o)] + s * rng.standard_normal())
               for o, s in noise.items()}
        pd.DataFrame([row]).to_csv(out / "measurements.csv", index=False)
        (out / "truth.json").write_text(json.dumps({"inputs": truth, "noise": noise,
                                                    "noise_free": {o: float(y_true[list(
                                                        model.outputs).index(o)])
                                                        for o in noise}}, indent=1))
        lines += ["[analyses.calibrate]", "data = \"measurements.csv\"",
                  f"noise = {_toml_value(noise)}"]
        if fixed:
            lines.append(f"fixed = {_toml_value(fixed)}")
        # exact delayed acceptance: a PCE fitted on prior samples screens each proposal
        lines += ["surrogate = \"pce\"", f"max_evaluations = {max(400, 6 * size)}",
                  "target_ess = 400", ""]
    lines += ["[runner]",
              f"executor = \"{'processes' if workers else 'in-process'}\""]
    if workers:
        lines.append(f"workers = {workers}")
    lines += ["store = \"study.db\"", "on_failure = \"skip\"", "",
              "[report]", "path = \"report.html\""]
    if calibrate:  # the values behind the synthetic data, drawn on the posterior marginals
        lines.append(f"truth = {_toml_value(truth)}")
    lines.append("")
    return "\n".join(lines)


def run_demo(args: argparse.Namespace) -> int:
    from .run import EXIT_INTERRUPTED

    size = args.size
    if size < 8 or size & (size - 1):
        print(f"uqkit: the '--size' option must be a power of 2 >= 8. Got {size} instead.",
              file=sys.stderr)
        return 2
    if args.workers < 0:
        print(f"uqkit: the '--workers' option must be >= 0. Got {args.workers} instead.",
              file=sys.stderr)
        return 2
    calibrate = not args.no_calibrate
    if calibrate:
        try:
            import uqkit

            uqkit.calibrate  # noqa: B018
        except (ImportError, AttributeError):
            calibrate = False
            if not args.quiet:
                print("uqkit: calibration skipped (uqkit.calibrate is not in this "
                      "installation)", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    study_path = out / "cardiac.toml"
    study_path.write_text(demo_study(out, size, args.workers, args.seed, calibrate),
                          encoding="utf-8")
    from .run import run_command

    code = run_command(argparse.Namespace(study=str(study_path), check=False, probe=0,
                                          quiet=args.quiet))
    if code == 0 and not args.quiet:
        print(f"demo finished in {time.perf_counter() - t0:.0f} s; open "
              f"{(out / 'report.html').resolve()}")
    elif code == EXIT_INTERRUPTED:
        print("uqkit: run `uqkit demo` again with the same options to resume.", file=sys.stderr)
    return code
