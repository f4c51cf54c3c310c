#!/usr/bin/env python3
"""A tiny command-line "simulator" for the command study: a cantilever beam.

Reads ``input.json`` ({"P": load N, "E": Young's modulus Pa, "L": length m}) from
the work directory and writes ``output.json`` with the tip deflection (m) and
the maximum bending stress (Pa) of a 50 mm x 50 mm square steel section:
``delta = P L^3 / (3 E I)``, ``sigma = P L c / I``, ``I = b h^3 / 12``, ``c = h/2``.
"""

import json
import sys

b = h = 0.05
inertia = b * h**3 / 12
with open(sys.argv[1] if len(sys.argv) > 1 else "input.json") as fh:
    x = json.load(fh)
P, E, L = x["P"], x["E"], x["L"]
out = {"deflection": P * L**3 / (3 * E * inertia), "stress": P * L * (h / 2) / inertia}
with open("output.json", "w") as fh:
    json.dump(out, fh)
