"""Write tests/reference/store_v1.db with uqkit at commit a446205 (store schema 1)."""
import os, sys, sqlite3, numpy as np, uqkit
path = sys.argv[1]
if os.path.exists(path): os.remove(path)
model, params, _ = uqkit.examples.ishigami()
r = uqkit.Runner(store=path, progress=False, on_failure="skip")
X = params.sample(16, rng=0)
r.evaluate(model, X)
def flaky(a, b):
    if a > 0.5:
        raise ValueError("a too large")
    return a / b if b else float("nan")
m2 = uqkit.as_model(flaky, name="flaky", version="2")
r.evaluate(m2, [[0.1, 2.0], [0.9, 1.0], [0.2, 0.0], [0.3, 4.0]])
vec = uqkit.as_model(lambda X: X[:, :1] * 2, inputs=("u", "v"), outputs={"V": 1}, vectorized=True, name="vec")
r.evaluate(vec, np.array([[1.0, 2.0], [-0.0, 5e-324], [1.7976931348623157e308, 0.1 + 0.2]]))
st = r.store
st.check_study("study:demo", {"n": 16, "seed": 0})
st.save_checkpoint("mcmc", {"a": np.arange(3.0)}, {"step": 3})
# an interrupted row without inputs, as left by a stale claim of a dead process
ident = uqkit.models.model_identity(m2)
from uqkit.runner import make_keys
k = make_keys(ident["id"], np.array([[0.4, 1.0]]))[0]
st.conn.execute("INSERT INTO claims VALUES ('dead', ?, 'o', ?, 999999999, 0, ?)", (ident["id"], __import__("socket").gethostname(), k))
st.claim(ident["id"], [], "x")
st.close()
con = sqlite3.connect(path); con.execute("PRAGMA journal_mode=DELETE"); con.execute("VACUUM"); con.close()
print(os.path.getsize(path))
