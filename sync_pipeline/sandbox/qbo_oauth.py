"""Intuit's OAuth 2.0 server, as the QBO sandbox needs it.

- ``GET /.well-known/openid_configuration``: the discovery document (``intuit-oauth``'s ``AuthClient`` reads
  it; give it the sandbox's URL as ``environment`` and it finds every endpoint below).
- ``GET /connect/oauth2?client_id=…&redirect_uri=…&response_type=code&scope=…&state=…``: consent is
  automatic; redirects to ``redirect_uri?code=…&state=…&realmId=…`` (the company: ``x_realm=`` or the first).
- ``POST /oauth2/v1/tokens/bearer`` (``application/x-www-form-urlencoded``, client authenticated with HTTP
  Basic): ``grant_type=authorization_code`` (``code``, ``redirect_uri``) or ``grant_type=refresh_token``.
  Answers ``{"token_type": "bearer", "access_token", "expires_in": 3600, "refresh_token",
  "x_refresh_token_expires_in"}``. Access tokens live one hour. A refresh returns a new refresh token once
  the one presented is ``refresh_rotate_after`` old (Intuit: the value changes every 24 hours; clients must
  always keep the latest); the replaced one stops working ``refresh_grace`` seconds later (Intuit documents
  no grace: 0 by default). Refresh tokens expire ``refresh_ttl`` after their last use (Intuit: 100 days,
  rolling; ``x_refresh_token_expires_in`` = 8726400). Errors: ``400 {"error": "invalid_grant"}``,
  ``401 {"error": "invalid_client"}``, ``400 {"error": "unsupported_grant_type"}``.
- ``POST /oauth2/v1/tokens/revoke`` (JSON ``{"token": …}``, Basic auth): revokes a refresh or access token
  and everything issued with it.

Tokens are bound to one company (realm) and persisted, so they survive a restart like Intuit's.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlencode

from sync_pipeline.contracts.codec import loads
from sync_pipeline.sandbox.qbo_faults import authentication
from sync_pipeline.sandbox.server import ApiError, Request, Response

TOKEN_PATH = "/oauth2/v1/tokens/bearer"
REVOKE_PATH = "/oauth2/v1/tokens/revoke"
AUTHORIZE_PATH = "/connect/oauth2"
DISCOVERY_PATH = "/.well-known/openid_configuration"


def _oauth_error(status: int, code: str, description: str | None = None) -> ApiError:
    body = {"error": code} if description is None else {"error": code, "error_description": description}
    return ApiError(status, body)


class OAuthMixin:
    """Needs ``self.store`` (DocStore), ``self.client_id``/``client_secret``, TTL settings, ``self.base_url``
    and ``self.realms()``."""

    store: Any
    client_id: str
    client_secret: str
    access_ttl: int
    refresh_ttl: int
    refresh_rotate_after: float
    refresh_grace: float
    base_url: str

    def _oauth_routes(self, router: Any) -> None:
        router.add("GET", DISCOVERY_PATH, self._discovery)
        router.add("GET", AUTHORIZE_PATH, self._authorize)
        router.add("POST", TOKEN_PATH, self._token)
        router.add("POST", REVOKE_PATH, self._revoke)

    def _discovery(self, req: Request) -> Response:
        b = self.base_url
        return Response(200, {"issuer": f"{b}/op/v1", "authorization_endpoint": f"{b}{AUTHORIZE_PATH}",
                              "token_endpoint": f"{b}{TOKEN_PATH}", "revocation_endpoint": f"{b}{REVOKE_PATH}",
                              "userinfo_endpoint": f"{b}/v1/openid_connect/userinfo",
                              "jwks_uri": f"{b}/op/v1/jwks",
                              "response_types_supported": ["code"], "grant_types_supported":
                              ["authorization_code", "refresh_token"],
                              "scopes_supported": ["com.intuit.quickbooks.accounting", "openid"]})

    # -- authorization codes ------------------------------------------------------------------------------------
    def issue_authorization_code(self, realm: str, redirect_uri: str = "") -> str:
        code = "AB" + secrets.token_urlsafe(24)
        self.store.kv_put("qbo-codes", code, {"realm": realm, "redirect_uri": redirect_uri,
                                              "exp": time.time() + 300})  # Intuit: codes live 5 minutes
        return code

    def _authorize(self, req: Request) -> Response:
        if req.arg("client_id") != self.client_id:
            raise _oauth_error(400, "invalid_client")
        if req.arg("response_type") != "code":
            raise _oauth_error(400, "unsupported_response_type")
        redirect = req.arg("redirect_uri") or ""
        realms = [r.realm for r in self.realms()]
        realm = req.arg("x_realm") or (realms[0] if realms else "")
        if realm not in realms:
            raise _oauth_error(400, "invalid_request", f"no sandbox company {realm!r}")
        code = self.issue_authorization_code(realm, redirect)
        query = urlencode({"code": code, "state": req.arg("state") or "", "realmId": realm})
        return Response(302, None, {"Location": f"{redirect}?{query}"})

    # -- tokens ------------------------------------------------------------------------------------------------
    def _client_ok(self, req: Request) -> bool:
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("basic "):
            return False  # Intuit authenticates the client with HTTP Basic only
        try:
            cid, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return secrets.compare_digest(cid, self.client_id) and secrets.compare_digest(secret, self.client_secret)

    def issue_tokens(self, realm: str) -> dict[str, Any]:
        """A fresh access + refresh token pair for a company, without the OAuth dance (tests, scripts)."""
        refresh = "RT1-" + secrets.token_urlsafe(32)
        now = time.time()
        self.store.kv_put("qbo-refresh", refresh, {"realm": realm, "issued": now, "exp": now + self.refresh_ttl,
                                                   "dead_after": None})
        return self._answer(realm, refresh, now)

    def _answer(self, realm: str, refresh: str, now: float) -> dict[str, Any]:
        access = "eyJ" + secrets.token_urlsafe(48)
        self.store.kv_put("qbo-access", access, {"realm": realm, "exp": now + self.access_ttl, "refresh": refresh})
        return {"token_type": "bearer", "access_token": access, "expires_in": self.access_ttl,
                "refresh_token": refresh, "x_refresh_token_expires_in": self.refresh_ttl}

    def _form(self, req: Request) -> dict[str, str]:
        parsed = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        return {k: v[-1] for k, v in parsed.items()}

    def _token(self, req: Request) -> Response:
        if not self._client_ok(req):
            raise _oauth_error(401, "invalid_client")
        form = self._form(req)
        grant = form.get("grant_type")
        now = time.time()
        if grant == "authorization_code":
            rec = self.store.kv_get("qbo-codes", form.get("code", ""))
            if rec is None or rec.get("used") or rec["exp"] < now or rec["redirect_uri"] not in (
                    "", form.get("redirect_uri", "")):
                raise _oauth_error(400, "invalid_grant")
            self.store.kv_put("qbo-codes", form["code"], {**rec, "used": True})
            return Response(200, self.issue_tokens(rec["realm"]), {"Cache-Control": "no-store"})
        if grant == "refresh_token":
            return Response(200, self._refresh(form.get("refresh_token", ""), now), {"Cache-Control": "no-store"})
        raise _oauth_error(400, "unsupported_grant_type")

    def _refresh(self, token: str, now: float) -> dict[str, Any]:
        rec = self.store.kv_get("qbo-refresh", token) if token else None
        if rec is None or rec.get("revoked") or rec["exp"] < now or (
                rec.get("dead_after") is not None and rec["dead_after"] <= now):
            raise _oauth_error(400, "invalid_grant", "Incorrect or invalid refresh token")
        if rec.get("replaced_by"):  # rotated already; within its grace the successor is handed out again
            current = rec["replaced_by"]
            succ = self.store.kv_get("qbo-refresh", current)
            succ["exp"] = now + self.refresh_ttl
            self.store.kv_put("qbo-refresh", current, succ)
            return self._answer(rec["realm"], current, now)
        if now - float(rec["issued"]) >= self.refresh_rotate_after:
            new = "RT1-" + secrets.token_urlsafe(32)
            self.store.kv_put("qbo-refresh", new, {"realm": rec["realm"], "issued": now,
                                                   "exp": now + self.refresh_ttl, "dead_after": None})
            self.store.kv_put("qbo-refresh", token, {**rec, "replaced_by": new, "dead_after": now + self.refresh_grace})
            return self._answer(rec["realm"], new, now)
        self.store.kv_put("qbo-refresh", token, {**rec, "exp": now + self.refresh_ttl})  # rolling expiry
        return self._answer(rec["realm"], token, now)

    def _revoke(self, req: Request) -> Response:
        if not self._client_ok(req):
            raise _oauth_error(401, "invalid_client")
        try:
            token = (loads(req.body) or {}).get("token", "")
        except ValueError:
            token = ""
        for ns in ("qbo-refresh", "qbo-access"):
            rec = self.store.kv_get(ns, token) if token else None
            if rec is not None:
                self.store.kv_put(ns, token, {**rec, "revoked": True})
                if ns == "qbo-access" and rec.get("refresh"):
                    ref = self.store.kv_get("qbo-refresh", rec["refresh"])
                    if ref is not None:
                        self.store.kv_put("qbo-refresh", rec["refresh"], {**ref, "revoked": True})
                return Response(200, None)
        raise _oauth_error(400, "invalid_request", "token is not known")

    def expire_access_token(self, access: str) -> None:
        """Make an access token expired now (tests: a client must refresh on 401)."""
        rec = self.store.kv_get("qbo-access", access)
        self.store.kv_put("qbo-access", access, {**rec, "exp": time.time() - 1})

    def authenticated_realm(self, req: Request) -> str:
        """The company the request's bearer token is for; a 401 AuthenticationFault (3200) otherwise."""
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            raise authentication("Authorization header is missing or not a bearer token")
        token = auth[7:].strip()
        rec = self.store.kv_get("qbo-access", token) if token else None
        if rec is None or rec.get("revoked"):
            raise authentication("Token invalid")
        if rec["exp"] < time.time():
            raise authentication("Token expired: the access token is valid for one hour; refresh it")
        ref = self.store.kv_get("qbo-refresh", rec.get("refresh", "")) if rec.get("refresh") else None
        if ref is not None and ref.get("revoked"):
            raise authentication("Token revoked")
        return str(rec["realm"])
