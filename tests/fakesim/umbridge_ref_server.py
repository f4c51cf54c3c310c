"""Serve a toy model with the official ``umbridge.serve_models`` (the reference server).

Usage: python umbridge_ref_server.py PORT [MAX_WORKERS] [SLEEP_SECONDS]

The model has input sizes [2, 1] and output sizes [2]: f(x, z) = [x0 + x1 * z, x0 * x1].
``config={"scale": s}`` multiplies the outputs. The reference server binds every
interface; this script confines it to 127.0.0.1 by wrapping aiohttp's run_app.
"""
import functools
import sys
import time

import umbridge
from aiohttp import web


class Toy(umbridge.Model):
    def __init__(self, sleep):
        super().__init__("forward")
        self.sleep = sleep

    def get_input_sizes(self, config):
        return [2, 1]

    def get_output_sizes(self, config):
        return [2]

    def __call__(self, parameters, config):
        if self.sleep:
            time.sleep(self.sleep)
        (x0, x1), (z,) = parameters
        s = config.get("scale", 1.0)
        return [[s * (x0 + x1 * z), s * x0 * x1]]

    def supports_evaluate(self):
        return True


if __name__ == "__main__":
    port = int(sys.argv[1])
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    sleep = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    web.run_app = functools.partial(web.run_app, host="127.0.0.1", print=None)
    umbridge.serve_models([Toy(sleep)], port=port, max_workers=workers)
