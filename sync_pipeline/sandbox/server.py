"""A tiny threaded HTTP server with a router and fault injection.

Built on the standard library's ``ThreadingHTTPServer`` on purpose: fault injection
needs raw control of the socket (reset a connection, drop it after committing a
write, truncate a body), which ASGI servers hide.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sync_pipeline.contracts.codec import dumps, loads

HTTP_FAULT_KINDS = ("429", "500", "503", "slow", "reset", "truncate", "commit_then_drop")
# faults of outgoing webhook deliveries; their ``path`` regex is matched against the subscriber URL
WEBHOOK_FAULT_KINDS = ("duplicate", "out_of_order")
FAULT_KINDS = HTTP_FAULT_KINDS + WEBHOOK_FAULT_KINDS


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        # Query parameter names are case-insensitive in Xero; Harvest uses lower case.
        for k, v in self.query.items():
            if k.lower() == name.lower():
                return v[-1]
        return default

    def json(self) -> Any:
        try:
            return loads(self.body)
        except ValueError as e:
            raise ApiError(400, {"message": f"request body is not valid JSON: {e}"}) from None


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    content_type: str = "application/json; charset=utf-8"

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return b"" if self.body is None else dumps(self.body)


class ApiError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass
class FaultRule:
    kind: str
    method: str = "*"
    path: str = ".*"  # regex matched against the path
    times: int = 1  # how many matching requests it affects; -1 = forever
    probability: float = 1.0
    delay: float = 5.0  # seconds, for "slow"
    retry_after: int = 1

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; choose from {', '.join(FAULT_KINDS)}")
        self._re = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and bool(self._re.search(path))

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "method": self.method, "path": self.path, "times": self.times,
                "probability": self.probability, "delay": self.delay, "retry_after": self.retry_after}


class Faults:
    """Per-route fault plan, thread safe. Rules fire in the order they were added."""

    def __init__(self, seed: int = 0) -> None:
        import random

        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.fired: list[tuple[str, str, str]] = []

    def add(self, kind: str, **kw: Any) -> FaultRule:
        rule = FaultRule(kind=kind, **kw)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def pick(self, method: str, path: str, kinds: tuple[str, ...] = HTTP_FAULT_KINDS) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.kind not in kinds or rule.times == 0 or not rule.matches(method, path):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                if rule.times > 0:
                    rule.times -= 1
                self.fired.append((rule.kind, method, path))
                return rule
        return None


Handler = Callable[[Request], Response]


class Router:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$", re.IGNORECASE), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        allowed = False
        for m, rx, h in self.routes:
            match = rx.match(path)
            if match:
                allowed = True
                if m == method:
                    return h, match.groupdict()
        if allowed:
            raise ApiError(405, {"message": f"method {method} not allowed on {path}"})
        return None


class App:
    """Something that answers requests: a router plus hooks."""

    name = "app"

    def __init__(self) -> None:
        self.router = Router()
        self.faults = Faults()

    def handle(self, req: Request) -> Response:
        found = self.router.resolve(req.method, req.path)
        if not found:
            raise ApiError(404, {"message": f"no route {req.method} {req.path}"})
        handler, params = found
        req.params.update(params)
        return handler(req)

    def error_response(self, err: ApiError) -> Response:
        return Response(err.status, err.body, err.headers)

    def injected_fault(self, fault: FaultRule) -> Response | None:
        """The answer to an injected 429/500/503 in this system's own error shape; None: a generic one."""
        return None

    def close(self) -> None:
        """Stop background work (webhook delivery); called when the server stops."""

    # -- admin API (sandbox only, no auth): fault plan over HTTP, for the CLI against a running sandbox --
    def handle_admin(self, req: Request) -> Response:
        if req.path.rstrip("/") == "/_sandbox/faults":
            if req.method == "GET":
                return Response(200, {"faults": [r.as_dict() for r in self.faults.rules()],
                                      "fired": [list(f) for f in self.faults.fired]})
            if req.method == "POST":
                spec = req.json()
                if not isinstance(spec, dict) or "kind" not in spec:
                    raise ApiError(400, {"message": "body must be a JSON object with at least a 'kind'"})
                allowed = {"kind", "method", "path", "times", "probability", "delay", "retry_after"}
                if set(spec) - allowed:
                    raise ApiError(400, {"message": f"unknown fault fields {sorted(set(spec) - allowed)}; "
                                                    f"allowed: {sorted(allowed)}"})
                try:
                    rule = self.faults.add(**spec)
                except (ValueError, TypeError) as e:
                    raise ApiError(400, {"message": str(e)}) from None
                return Response(201, rule.as_dict())
            if req.method == "DELETE":
                self.faults.clear()
                return Response(200, {"faults": []})
            raise ApiError(405, {"message": f"method {req.method} not allowed on {req.path}"})
        extra = self.admin_routes(req)
        if extra is not None:
            return extra
        raise ApiError(404, {"message": f"no sandbox admin route {req.method} {req.path}"})

    def admin_routes(self, req: Request) -> Response | None:
        """More ``/_sandbox/...`` routes of a particular sandbox; None when the path is not one."""
        return None


def _make_handler(app: App) -> type[BaseHTTPRequestHandler]:
    class _H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"sandbox-{app.name}/1.0"

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet by default
            pass

        def _reset(self) -> None:
            # SO_LINGER with timeout 0 makes close() send an RST: a "connection reset by peer".
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            self.close_connection = True
            try:
                self.connection.close()
            except OSError:
                pass

        def _send(self, resp: Response, truncate: bool = False) -> None:
            payload = resp.encoded()
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.content_type)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in resp.headers.items():
                self.send_header(k, v)
            self.end_headers()
            if truncate:
                self.wfile.write(payload[: max(1, len(payload) // 2)])
                self.wfile.flush()
                self._reset()
                return
            self.wfile.write(payload)

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            if req.path.startswith("/_sandbox/"):
                try:
                    resp = app.handle_admin(req)
                except ApiError as e:
                    resp = Response(e.status, e.body, e.headers)
                self._send(resp)
                return
            fault = app.faults.pick(req.method, req.path)
            if fault is not None:
                if fault.kind in ("429", "500", "503"):
                    status = int(fault.kind)
                    headers = {"Retry-After": str(fault.retry_after)} if status in (429, 503) else {}
                    self._send(app.injected_fault(fault) or
                               Response(status, {"message": f"injected fault {fault.kind}"}, headers))
                    return
                if fault.kind == "reset":
                    self._reset()
                    return
                if fault.kind == "slow":
                    time.sleep(fault.delay)
            try:
                resp = app.handle(req)
            except ApiError as e:
                resp = app.error_response(e)
            except Exception as e:  # noqa: BLE001 - a sandbox must answer, like a real 500
                resp = Response(500, {"message": f"sandbox internal error: {type(e).__name__}: {e}"})
            if fault is not None and fault.kind == "commit_then_drop":
                self._reset()  # the write is committed; the client never hears about it
                return
            self._send(resp, truncate=fault is not None and fault.kind == "truncate")

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    return _H


class SandboxServer:
    """Serve an App on localhost in a background thread."""

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(app))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sandbox-{self.app.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.app.close()
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
