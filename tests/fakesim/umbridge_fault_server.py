"""A fake UM-Bridge server on 127.0.0.1 whose faults depend on the first input (H1-H5).

Input sizes [2], output sizes [1]; f(x) = x0 + x1, except when round(x0) is:
1: HTTP 400 InvalidInput (a JSON error); 2: HTTP 500 with an HTML body, for the first
``x1`` requests of that input, then correct; 3: hang for 30 s; 4: bare NaN and Infinity
tokens; 5: two outputs instead of one; 6: connection dropped without an answer, the first
time; 7: HTTP 500 with a JSON ModelError body.
Every /Evaluate request is counted in ``server.calls``.
"""
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json"):
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.reply(200, {"protocolVersion": 1.0, "models": ["forward"]})

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        if self.path == "/ModelInfo":
            return self.reply(200, {"support": {"Evaluate": True}})
        if self.path == "/InputSizes":
            return self.reply(200, {"inputSizes": [2]})
        if self.path == "/OutputSizes":
            return self.reply(200, {"outputSizes": [1]})
        x0, x1 = req["input"][0]
        key = (x0, x1)
        with self.server.lock:
            self.server.calls[key] += 1
            n = self.server.calls[key]
        fault = round(x0)
        if fault == 1:
            return self.reply(400, {"error": {"type": "InvalidInput", "message": "x0 < 2"}})
        if fault == 2 and n <= x1:
            return self.reply(500, "<html><body>502 Bad Gateway (proxy)</body></html>",
                              "text/html")
        if fault == 3:
            time.sleep(30)
        if fault == 4:
            return self.reply(200, '{"output": [[NaN]]}' if x1 < 0 else '{"output": [[-Infinity]]}')
        if fault == 5:
            return self.reply(200, {"output": [[1.0, 2.0]]})
        if fault == 6 and n == 1:
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        if fault == 7:
            return self.reply(500, {"error": {"type": "ModelError", "message": "solver blew up"}})
        return self.reply(200, {"output": [[x0 + x1]]})


def start():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.calls = Counter()
    server.lock = threading.Lock()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server
