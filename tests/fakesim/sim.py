#!/usr/bin/env python3
"""Fake simulator for uqkit's tests: a real executable whose faults depend on its inputs.

Reads ``in.json`` ({"a": float, "b": float, "fault": float}) from the current
directory, writes ``out.json`` ({"y1": a + b, "y2": a * b}) and prints
``y1 = <value>`` on stdout. Every invocation appends one line to the file named
by ``$FAKESIM_LOG`` (the "model calls" count of RELIABILITY.md).

Faults, chosen by ``round(fault)``:
0 none; 1 exit 3 with a message on stderr; 2 SIGSEGV; 3 SIGKILL (the OOM
killer); 4 hang; 5 NaN output; 6 wrong shape (y1 only); 7 no output file;
8 empty output file; 9 truncated JSON; 10 transient (fails on the first
attempt for this input, tracked by a marker file in $FAKESIM_STATE);
11 a string output; 12 fails when sha256(repr(a)) % 10 == 0.
"""
import hashlib
import json
import os
import signal
import sys
import time

with open("in.json") as f:
    p = json.load(f)
a, b, fault = p["a"], p["b"], int(round(p.get("fault", 0)))
log = os.environ.get("FAKESIM_LOG")
if log:
    with open(log, "a") as f:
        f.write(json.dumps({"a": a, "b": b, "fault": fault, "pid": os.getpid()}) + "\n")

out = {"y1": a + b, "y2": a * b}
if fault == 1:
    sys.stderr.write("fakesim: diverged at step 17\n")
    sys.exit(3)
if fault == 2:
    os.kill(os.getpid(), signal.SIGSEGV)
if fault == 3:
    os.kill(os.getpid(), signal.SIGKILL)
if fault == 4:
    time.sleep(1e6)
if fault == 5:
    out["y2"] = float("nan")
if fault == 6:
    del out["y2"]
if fault == 7:
    print(f"y1 = {out['y1']!r}")
    sys.exit(0)
if fault == 8:
    open("out.json", "w").close()
    sys.exit(0)
if fault == 9:
    with open("out.json", "w") as f:
        f.write(json.dumps(out)[:10])
    sys.exit(0)
if fault == 10:
    marker = os.path.join(os.environ["FAKESIM_STATE"], hashlib.sha256(repr(a).encode()).hexdigest())
    if not os.path.exists(marker):
        open(marker, "w").close()
        sys.stderr.write("fakesim: transient failure (licence server busy)\n")
        sys.exit(75)
if fault == 11:
    out["y2"] = "abc"
if fault == 12 and int(hashlib.sha256(repr(a).encode()).hexdigest(), 16) % 10 == 0:
    sys.stderr.write(f"fakesim: hash fault for a={a!r}\n")
    sys.exit(4)
with open("out.json", "w") as f:
    json.dump(out, f)
print(f"y1 = {out['y1']!r}")
