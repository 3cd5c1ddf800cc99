"""OAuth 2.0 for QuickBooks Online: access tokens from a rotating refresh token, persisted before use.

Intuit's token endpoint (``https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer``) takes
``grant_type=refresh_token&refresh_token=...`` with HTTP Basic client credentials and answers
``{"access_token", "expires_in": 3600, "refresh_token", "x_refresh_token_expires_in", "token_type": "bearer"}``.
Every refresh may return a *new* refresh token and the old one stops working soon after, so the new one is saved
through a :class:`TokenStore` before the access token is used (a crash right after a refresh must not lose the
only valid refresh token). The store is a hook: :class:`FileTokenStore` (a JSON file, mode 0600, written
atomically), :class:`MemoryTokenStore` (tests), or anything with ``load``/``save`` (the operational store).

Secrets never reach a log: the client secret and every token are registered with ``connectors.redaction``.
An access token refused by the API (401) is refreshed once; a refused refresh (``invalid_grant``) or a second 401
raises :class:`~sync_pipeline.connectors.qbo.faults.ReconnectRequired`, which says to reconnect the app.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode

import httpx

from sync_pipeline.connectors import redaction
from sync_pipeline.connectors.http import HttpClient, PermanentError
from sync_pipeline.connectors.qbo.faults import ReconnectRequired, reconnect_message

TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
#: Intuit's authorization endpoint (its discovery document's ``authorization_endpoint``)
AUTHORIZE_URL = "https://appcenter.intuit.com/connect/oauth2"
#: the scope of the Accounting API
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
#: refresh this long before the access token's stated expiry (clock skew, a slow request)
EXPIRY_MARGIN = 120.0


@dataclass(frozen=True)
class Tokens:
    refresh_token: str
    access_token: str | None = None
    #: epoch seconds (wall clock: it survives a restart) after which the access token is not used
    access_expires_at: float = 0.0
    refresh_expires_at: float | None = None


class TokenStore(Protocol):
    """Where a realm's tokens live between runs. ``save`` must be durable when it returns."""

    def load(self, realm_id: str) -> Tokens | None: ...

    def save(self, realm_id: str, tokens: Tokens) -> None: ...


class MemoryTokenStore:
    def __init__(self, initial: dict[str, Tokens] | None = None) -> None:
        self.tokens = dict(initial or {})
        self.saves = 0

    def load(self, realm_id: str) -> Tokens | None:
        return self.tokens.get(realm_id)

    def save(self, realm_id: str, tokens: Tokens) -> None:
        self.tokens[realm_id] = tokens
        self.saves += 1


class FileTokenStore:
    """One JSON file holding every realm's tokens, readable by its owner only, replaced atomically."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict]:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    def load(self, realm_id: str) -> Tokens | None:
        with self._lock:
            raw = self._read().get(realm_id)
        return Tokens(**raw) if raw else None

    def save(self, realm_id: str, tokens: Tokens) -> None:
        with self._lock:
            data = self._read()
            data[realm_id] = asdict(tokens)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".qbo-tokens-")
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w") as f:
                    json.dump(data, f)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise


def authorization_url(client_id: str, redirect_uri: str, state: str, *, authorize_url: str = AUTHORIZE_URL) -> str:
    """Where a person connects the app to a QuickBooks company (OAuth 2.0 authorization code grant): Intuit asks
    them to sign in and consent, then redirects to ``redirect_uri?code=…&state=…&realmId=…``."""
    return authorize_url + "?" + urlencode({"client_id": client_id, "response_type": "code",
                                             "scope": ACCOUNTING_SCOPE, "redirect_uri": redirect_uri, "state": state})


def exchange_code(code: str, redirect_uri: str, client_id: str, client_secret: str, *, token_url: str = TOKEN_URL,
                  timeout: float = 30.0, clock: Callable[[], float] = time.time,
                  transport: httpx.BaseTransport | None = None) -> Tokens:
    """The authorization code for the first tokens (``grant_type=authorization_code``, the same ``redirect_uri``,
    client authenticated with HTTP Basic). A code works once and for minutes: it is never retried."""
    redaction.register_secret(client_secret)
    redaction.register_secret(code)
    http = HttpClient(system="qbo-oauth", base_url="", timeout=timeout, max_attempts=1, transport=transport)
    try:
        resp = http.request("POST", token_url, data={"grant_type": "authorization_code", "code": code,
                                                     "redirect_uri": redirect_uri},
                            auth=(client_id, client_secret), headers={"Accept": "application/json"})
    except PermanentError as e:
        body = e.json() if hasattr(e, "json") else None
        err = body.get("error") if isinstance(body, dict) else None
        raise ReconnectRequired(f"Intuit refused the authorization code ({err or f'HTTP {e.status}'}): connect "
                                "again (a code works once, for a few minutes, with the redirect URI it was issued "
                                "for)", system="qbo", method="POST", url=token_url, status=e.status) from None
    finally:
        http.close()
    body = resp.json()
    access, refresh = body.get("access_token"), body.get("refresh_token")
    if not isinstance(access, str) or not isinstance(refresh, str):
        raise ReconnectRequired("Intuit's token answer has no access or refresh token: connect again",
                                system="qbo", method="POST", url=token_url)
    redaction.register_secret(access)
    redaction.register_secret(refresh)
    now = clock()
    ttl = body.get("x_refresh_token_expires_in")
    return Tokens(refresh_token=refresh, access_token=access, access_expires_at=now + float(body.get("expires_in", 3600)),
                  refresh_expires_at=now + float(ttl) if ttl is not None else None)


class QboAuth:
    """Bearer tokens for one realm, refreshed (and the rotated refresh token persisted) when needed."""

    def __init__(self, realm_id: str, client_id: str, client_secret: str, store: TokenStore, *,
                 token_url: str = TOKEN_URL, timeout: float = 30.0, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.realm_id = realm_id
        self._client_id = client_id
        self._client_secret = client_secret
        redaction.register_secret(client_secret)
        self.store = store
        self.token_url = token_url
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: Tokens | None = None
        self.refreshes = 0
        self._http = HttpClient(system="qbo-oauth", base_url="", timeout=timeout, max_attempts=3,
                                transport=transport)

    def close(self) -> None:
        self._http.close()

    def _current(self) -> Tokens:
        stored = self.store.load(self.realm_id)
        if stored is None:
            raise ReconnectRequired(reconnect_message(self.realm_id, "no refresh token is stored for it"),
                                    system="qbo", method="POST", url=self.token_url)
        redaction.register_secret(stored.refresh_token)
        redaction.register_secret(stored.access_token)
        return stored

    def bearer(self) -> str:
        """A valid access token: the stored one while fresh, else a refreshed one (another process's included)."""
        with self._lock:
            t = self._tokens
            if t is None or not self._fresh(t):
                t = self._current()  # another worker may have refreshed (and rotated) since we last looked
                if not self._fresh(t):
                    t = self._refresh(t)
                self._tokens = t
            assert t.access_token is not None
            return t.access_token

    def invalidate(self, refused: str) -> None:
        """The API refused this access token (401): the next :meth:`bearer` refreshes."""
        with self._lock:
            cur = self._tokens
            if cur is not None and cur.access_token == refused:
                self._tokens = Tokens(cur.refresh_token, None, 0.0, cur.refresh_expires_at)
                self.store.save(self.realm_id, self._tokens)

    def _fresh(self, t: Tokens) -> bool:
        return bool(t.access_token) and self._clock() < t.access_expires_at - EXPIRY_MARGIN

    def _refresh(self, t: Tokens) -> Tokens:
        try:
            resp = self._http.request(
                "POST", self.token_url, data={"grant_type": "refresh_token", "refresh_token": t.refresh_token},
                auth=(self._client_id, self._client_secret),
                # a refresh repeated after a lost answer would present a rotated-away token: Intuit keeps the
                # old one valid for a while, so a retry is safe and better than a reconnect
                safe=True)
        except PermanentError as e:
            body = e.json() if hasattr(e, "json") else None
            err = body.get("error") if isinstance(body, dict) else None
            raise ReconnectRequired(
                reconnect_message(self.realm_id, f"Intuit refused the refresh token ({err or f'HTTP {e.status}'})"),
                system="qbo", method="POST", url=self.token_url, status=e.status) from None
        body = resp.json()
        access, refresh = body.get("access_token"), body.get("refresh_token") or t.refresh_token
        if not isinstance(access, str) or not isinstance(refresh, str):
            raise ReconnectRequired(reconnect_message(self.realm_id, "Intuit's token answer has no access token"),
                                    system="qbo", method="POST", url=self.token_url)
        redaction.register_secret(access)
        redaction.register_secret(refresh)
        now = self._clock()
        refresh_ttl = body.get("x_refresh_token_expires_in")
        new = Tokens(refresh_token=refresh, access_token=access,
                     access_expires_at=now + float(body.get("expires_in", 3600)),
                     refresh_expires_at=now + float(refresh_ttl) if refresh_ttl is not None else t.refresh_expires_at)
        self.store.save(self.realm_id, new)  # durable before the token is used: rotation must never lose it
        self.refreshes += 1
        return new
