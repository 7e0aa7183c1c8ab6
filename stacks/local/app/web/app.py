"""berth's sample app, its web service (the store and the worker are ../backend).

  web     answers on :8080 with the greeting and the worker's count (read from the store)
  check   URL: exits 0 when URL answers 200 (the health check uses it)
"""
import http.server
import json
import os
import signal
import sys
import threading
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


def web():
    greeting = os.environ.get("GREETING", "Hello from berth")
    token = os.environ.get("API_TOKEN", "")

    class H(Quiet):
        def do_GET(self):
            if self.path == "/health":
                return reply(self, 200, "ok\n")
            try:
                count = json.load(urllib.request.urlopen(STORE_URL + "/count", timeout=2))["count"]
            except Exception:
                count = "unknown (store unreachable)"
            reply(
                self,
                200,
                f"{greeting}\n"
                f"worker ticks so far: {count}\n"
                f"api token: {'set' if token else 'missing'} ({len(token)} characters)\n",
            )

    serve(8080, H)


def check(url):
    try:
        sys.exit(0 if urllib.request.urlopen(url, timeout=2).status == 200 else 1)
    except Exception:
        sys.exit(1)


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else "web"
    {"web": web}.get(role, lambda: check(sys.argv[2]) if role == "check" else sys.exit(f"unknown role {role}"))()
