"""OAuth 2.0 against a fake Intuit token endpoint: rotation persisted before use, expiry, 401, reconnect."""

from __future__ import annotations

import json
import logging
import os
import stat

import httpx
import pytest

from sync_pipeline.connectors.qbo import FileTokenStore, MemoryTokenStore, QboAuth, Tokens
from sync_pipeline.connectors.qbo.faults import ReconnectRequired
from sync_pipeline_tests.connectors.qbo.conftest import TOKEN_URL, make_client
from sync_pipeline_tests.connectors.qbo.fake_qbo import REALM, FakeQbo, fault, transport


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def auth_for(fake: FakeQbo, store, clock=None) -> QboAuth:
    return QboAuth(REALM, "cid", "client-secret-123456", store, token_url=TOKEN_URL, transport=transport(fake),
                   clock=clock or Clock())


def test_refresh_rotates_and_persists_the_new_refresh_token_before_use(tmp_path) -> None:
    fake = FakeQbo()
    store = FileTokenStore(tmp_path / "tokens.json")
    store.save(REALM, Tokens(refresh_token="rt-initial-000001"))
    auth = auth_for(fake, store)
    token = auth.bearer()
    assert token == "at-000001-xyz"
    saved = json.loads((tmp_path / "tokens.json").read_text())[REALM]
    assert saved["refresh_token"] == "rt-rotated-000001" and saved["access_token"] == token
    assert stat.S_IMODE(os.stat(tmp_path / "tokens.json").st_mode) == 0o600
    sent = fake.requests[0]
    assert sent.headers["Authorization"].startswith("Basic ")
    assert b"grant_type=refresh_token" in sent.content and b"refresh_token=rt-initial-000001" in sent.content


def test_a_fresh_token_is_reused_and_an_expiring_one_refreshed() -> None:
    fake, clock = FakeQbo(), Clock()
    store = MemoryTokenStore({REALM: Tokens(refresh_token="rt-initial-000001")})
    auth = auth_for(fake, store, clock)
    first = auth.bearer()
    clock.now += 3000
    assert auth.bearer() == first and fake.tokens == 1
    clock.now += 500  # within two minutes of the 3,600 s expiry
    assert auth.bearer() != first and fake.tokens == 2
    assert store.load(REALM).refresh_token == "rt-rotated-000002"


def test_tokens_another_worker_refreshed_are_used_without_refreshing_again() -> None:
    fake, clock = FakeQbo(), Clock()
    store = MemoryTokenStore({REALM: Tokens("rt-theirs-0001", "at-theirs-0001", clock.now + 3600)})
    assert auth_for(fake, store, clock).bearer() == "at-theirs-0001"
    assert fake.tokens == 0


def test_a_refused_refresh_token_says_reconnect_and_never_shows_a_secret(caplog) -> None:
    fake = FakeQbo()
    fake.scripted.append(lambda r: httpx.Response(400, json={"error": "invalid_grant"})
                         if r.url.path.endswith("/bearer") else None)
    store = MemoryTokenStore({REALM: Tokens(refresh_token="rt-revoked-secret-99")})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ReconnectRequired) as e:
        auth_for(fake, store).bearer()
    assert "Reconnect the app" in str(e.value) and "invalid_grant" in str(e.value)
    assert "rt-revoked-secret-99" not in str(e.value) + caplog.text
    assert "client-secret-123456" not in caplog.text


def test_no_stored_token_says_reconnect() -> None:
    with pytest.raises(ReconnectRequired, match="no refresh token is stored"):
        auth_for(FakeQbo(), MemoryTokenStore()).bearer()


def test_a_401_refreshes_once_and_repeats_the_call() -> None:
    fake = FakeQbo()
    client = make_client(fake)
    client.auth.bearer()
    fake.scripted.append(lambda r: httpx.Response(401, json=fault("3200", "message=AuthenticationFailed; "
                                                                          "errorCode=003200; statusCode=401",
                                                                  "AuthenticationFault"))
                         if "/v3/" in r.url.path else None)
    assert client.read("Account", "101")["AcctNum"] == "200"
    assert fake.tokens == 2
    assert fake.requests[-1].headers["Authorization"] == "Bearer at-000002-xyz"


def test_a_second_401_is_a_reconnect_error_naming_the_company(monkeypatch) -> None:
    from sync_pipeline.connectors import redaction

    # Secrets registered by earlier tests in the session (the bench's Harvest account "900001") would mask
    # part of the realm id in the message.
    monkeypatch.setattr(redaction, "_secrets", set())
    fake = FakeQbo()
    client = make_client(fake)
    unauthorized = fault("3200", "message=AuthenticationFailed", "AuthenticationFault")
    for _ in range(2):
        fake.scripted.append(lambda r: httpx.Response(401, json=unauthorized) if "/v3/" in r.url.path else None)
    with pytest.raises(ReconnectRequired, match=f"QuickBooks company {REALM}.*Reconnect the app"):
        client.read("Account", "101")
