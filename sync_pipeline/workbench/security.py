"""The workbench's web hardening: cookies, origins, redirects, security headers, sign-in throttle settings.

- cross-site request forgery: every form carries the session's CSRF token (the sign-in form a cookie-bound
  one), and a POST whose ``Origin`` (or, without one, ``Referer``) is not the workbench's own origin is
  refused with 403;
- the session cookie ``__Host-workbench`` is ``Secure``, ``HttpOnly``, ``SameSite=Strict``, ``Path=/``: a random
  token whose digest names the server-side session (``store.sessions``);
- ``next=`` and the ``Referer`` only ever redirect to a path of the workbench itself;
- headers: a strict CSP (no inline script or style, ``frame-ancestors 'none'``), ``X-Frame-Options: DENY``,
  ``nosniff``, ``Referrer-Policy: same-origin``, ``Cache-Control: no-store``.

``secure_cookies=False`` (cookies without ``Secure``) is for plain-http development on a loopback address only:
``sync-pipeline workbench --insecure-cookies`` refuses any other host.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "cache-control": "no-store",
}
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class WorkbenchSecurity:
    """Settings of the workbench's protections (``server.build`` reads them from the environment)."""

    secure_cookies: bool = True
    idle_timeout: timedelta = timedelta(minutes=30)
    absolute_timeout: timedelta = timedelta(hours=12)
    # origins besides the one the request arrived at (behind a proxy: the public https origin)
    origins: tuple[str, ...] = field(default_factory=tuple)
    max_failures_per_user: int = 5  # failed sign-ins per user name inside the window, then 429 until it passes
    max_failures_per_client: int = 20  # per client address, across user names
    failure_window: timedelta = timedelta(minutes=15)

    @property
    def session_cookie(self) -> str:
        return "__Host-workbench" if self.secure_cookies else "workbench_session"

    @property
    def login_cookie(self) -> str:
        return "__Host-workbench-login" if self.secure_cookies else "workbench_login"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute http(s) URL, lower-cased; None for anything else."""
    try:
        p = urlsplit(url.strip())
    except ValueError:
        return None
    if p.scheme.lower() not in ("http", "https") or not p.netloc:
        return None
    return f"{p.scheme.lower()}://{p.netloc.lower()}"


def own_origin(scope: Scope) -> str:
    headers = Headers(scope=scope)
    host = headers.get("host") or "{}:{}".format(*(scope.get("server") or ("localhost", 80)))
    return f"{scope.get('scheme', 'http')}://{host.lower()}"


def allowed_origins(scope: Scope, config: WorkbenchSecurity) -> set[str]:
    """The request's own origin and the configured public ones."""
    return {own_origin(scope), *(o.lower().rstrip("/") for o in config.origins)}


def safe_path(target: str | None, fallback: str) -> str:
    """``target`` when it is a path of this site (``/…``), else ``fallback``: never ``//host``, ``/\\host``,
    a scheme, or anything with control characters or whitespace a browser would strip."""
    t = target or ""
    if (not t.startswith("/") or t.startswith("//") or "\\" in t
            or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in t)):
        return fallback
    try:
        p = urlsplit(t)
    except ValueError:
        return fallback
    return t if not p.scheme and not p.netloc else fallback


def local_referer(referer: str | None, origins: set[str], fallback: str) -> str:
    """The path (and query) of a same-origin ``Referer``, else ``fallback``."""
    if not referer or origin_of(referer) not in origins:
        return fallback
    p = urlsplit(referer)
    return safe_path(p.path + (f"?{p.query}" if p.query else ""), fallback)


class Hardened:
    """ASGI middleware: security headers on every response; cross-origin unsafe requests refused (403)."""

    def __init__(self, app: ASGIApp, config: WorkbenchSecurity) -> None:
        self.app, self.config = app, config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        https = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in HEADERS.items() if k.encode() not in have]
                if https:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        if scope["method"] in UNSAFE_METHODS and not self._same_origin(scope):
            body = (b"<!doctype html><title>Refused</title><h1>Refused</h1><p id=\"refused\">This request came from "
                    b"another site (its Origin is not the workbench's), so it was not carried out. Use the "
                    b"workbench's own pages.</p>")
            await with_headers({"type": "http.response.start", "status": 403,
                                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                            (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, with_headers)

    def _same_origin(self, scope: Scope) -> bool:
        headers = Headers(scope=scope)
        allowed = allowed_origins(scope, self.config)
        origin = headers.get("origin")
        if origin is not None:
            return origin.lower().rstrip("/") in allowed  # "null" (sandboxed frames, file:) is never ours
        referer = headers.get("referer")
        if referer is not None:
            return origin_of(referer) in allowed
        return True  # no browser sends neither on a form POST: the CSRF token decides
