"""berth's sample app, its back end: one program in two roles (the web service is ../web).

  store   keeps a counter in /data (a named volume) and serves it over HTTP on :7000
  worker  increments the store's counter every few seconds
  check   URL: exits 0 when URL answers 200 (the health checks use it)
"""
import http.server
import json
import os
import signal
import sys
import threading
import time
import urllib.request

STORE_URL = os.environ.get("STORE_URL", "http://store:7000")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


def serve(port, handler):
    handler.protocol_version = "HTTP/1.1"  # keep-alive, so the proxy can reuse connections
    server = Server(("0.0.0.0", port), handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"listening on :{port}", flush=True)
    server.serve_forever()


def reply(h, status, body, ctype="text/plain; charset=utf-8"):
    data = body.encode()
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)


class Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


def store():
    path = "/data/counter"
    lock = threading.Lock()

    def read():
        try:
            with open(path) as f:
                return int(f.read().strip() or 0)
        except FileNotFoundError:
            return 0

    class H(Quiet):
        def do_GET(self):
            if self.path == "/health":
                return reply(self, 200, "ok\n")
            reply(self, 200, json.dumps({"count": read()}), "application/json")

        def do_POST(self):
            with lock:
                n = read() + 1
                with open(path + ".tmp", "w") as f:
                    f.write(str(n))
                os.replace(path + ".tmp", path)
            reply(self, 200, json.dumps({"count": n}), "application/json")

    os.makedirs("/data", exist_ok=True)
    serve(7000, H)


def worker():
    interval = float(os.environ.get("INTERVAL_SECONDS", "3"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(STORE_URL + "/count", method="POST"), timeout=5).read()
        except Exception as e:  # the store may be restarting: try again next round
            print(f"store not reachable: {e}", flush=True)
        time.sleep(interval)


def check(url):
    try:
        sys.exit(0 if urllib.request.urlopen(url, timeout=2).status == 200 else 1)
    except Exception:
        sys.exit(1)


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else "store"
    {"store": store, "worker": worker}.get(role, lambda: check(sys.argv[2]) if role == "check" else sys.exit(f"unknown role {role}"))()
