"""A calibration driver run as a separate process by the resume test (RELIABILITY A10).

usage: python _calib_driver.py STORE|none N_STEPS SEED OUT
Calibrates a small nonlinear model for exactly N_STEPS steps (no early stop)
with the given store and saves the chain, the log-posterior and the final RNG
state to OUT (.npz).
"""

import json
import sys

import numpy as np

import uqkit

T = np.linspace(0.0, 4.0, 7)
DATA = 2.0 * np.exp(-0.8 * T) + 0.1 * np.sin(7 * T)


def decay(X):
    return X[:, :1] * np.exp(-X[:, 1:2] * T[None, :])


def main() -> None:
    store, n_steps, seed, out = sys.argv[1:5]
    model = uqkit.as_model(decay, inputs=("a", "b"), outputs={"y": 7}, vectorized=True,
                           name="calib_decay")
    prior = uqkit.Parameters(a=uqkit.Uniform(0.0, 5.0), b=uqkit.Uniform(0.0, 3.0))
    runner = uqkit.Runner(store=None if store == "none" else store, progress=False)
    rng = np.random.default_rng(int(seed))
    post = uqkit.calibrate(model, prior, {"y": DATA}, noise=uqkit.Gaussian("infer"),
                           n_walkers=6, n_steps=int(n_steps), target_ess=None, rng=rng,
                           runner=runner)
    np.savez(out, chain=post.chain, lp=post.log_posterior, accepted=post.accepted,
             rng=np.frombuffer(json.dumps(rng.bit_generator.state).encode(), dtype=np.uint8),
             n_eval=np.array([post.n_model_evaluations]),
             predictive=post._predictive["Y"],
             resumed=np.array([-1 if post.resumed_at is None else post.resumed_at]))
    print("done", post.resumed_at, flush=True)


if __name__ == "__main__":
    main()
