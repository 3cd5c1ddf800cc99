"""QBO sandbox OAuth 2.0: discovery, authorization code, refresh-token rotation, expiry, revocation, and
the 401/403 faults of the Accounting API."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sync_pipeline.sandbox.server import SandboxServer
from sync_pipeline_tests.sandbox.conftest import QBO_REALM, QboApi, qbo_sandbox


def _basic(sb) -> dict[str, str]:
    raw = base64.b64encode(f"{sb.client_id}:{sb.client_secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}", "Accept": "application/json"}


@pytest.fixture
def fresh(tmp_path: Path):
    sb = qbo_sandbox(tmp_path / "qbo.sqlite3", refresh_rotate_after=0.0)
    sb.add_company(QBO_REALM, "Auth Co")
    sb.add_company("999", "Other Co", country="GB")
    with SandboxServer(sb) as server:
        sb.base_url = server.url
        yield sb, server


def test_authorization_code_flow_through_discovery(fresh) -> None:
    sb, server = fresh
    with httpx.Client(base_url=server.url) as http:
        doc = http.get("/.well-known/openid_configuration").json()
        assert doc["token_endpoint"] == f"{server.url}/oauth2/v1/tokens/bearer"
        r = http.get("/connect/oauth2", params={"client_id": sb.client_id, "response_type": "code",
                                                "scope": "com.intuit.quickbooks.accounting", "state": "s1",
                                                "redirect_uri": "http://app.example/cb", "x_realm": "999"})
        assert r.status_code == 302
        back = parse_qs(urlsplit(r.headers["Location"]).query)
        assert back["state"] == ["s1"] and back["realmId"] == ["999"]
        form = {"grant_type": "authorization_code", "code": back["code"][0], "redirect_uri": "http://app.example/cb"}
        tok = http.post(doc["token_endpoint"], data=form, headers=_basic(sb))
        assert tok.status_code == 200, tok.text
        body = tok.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 3600
        assert body["x_refresh_token_expires_in"] == 8726400 and body["refresh_token"]
        # the code is single use
        again = http.post(doc["token_endpoint"], data=form, headers=_basic(sb))
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        # the token is for company 999 only
        api = QboApi(sb, server.url, "999")
        assert api.ok("GET", "preferences", token=body["access_token"])["Preferences"]["CurrencyPrefs"][
            "HomeCurrency"] == {"value": "GBP"}
        err = api.fault("GET", "preferences", token=body["access_token"], realm=QBO_REALM, status=403)
        assert (err["code"], err["type"]) == ("3100", "AUTHORIZATION")
        api.close()


def test_client_is_authenticated_with_basic_only(fresh) -> None:
    sb, server = fresh
    refresh = sb.issue_tokens(QBO_REALM)["refresh_token"]
    r = httpx.post(f"{server.url}/oauth2/v1/tokens/bearer",
                   data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": sb.client_id,
                         "client_secret": sb.client_secret})
    assert r.status_code == 401 and r.json() == {"error": "invalid_client"}
    r = httpx.post(f"{server.url}/oauth2/v1/tokens/bearer", data={"grant_type": "password"}, headers=_basic(sb))
    assert r.status_code == 400 and r.json() == {"error": "unsupported_grant_type"}


def test_refresh_rotates_and_the_old_token_stops_working(fresh) -> None:
    sb, server = fresh
    first = sb.issue_tokens(QBO_REALM)
    url = f"{server.url}/oauth2/v1/tokens/bearer"
    r = httpx.post(url, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                   headers=_basic(sb))
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    old = httpx.post(url, data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
                     headers=_basic(sb))
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"
    assert httpx.post(url, data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
                      headers=_basic(sb)).status_code == 200


def test_refresh_within_a_day_keeps_the_refresh_token(tmp_path: Path) -> None:
    sb = qbo_sandbox(tmp_path / "q.sqlite3")  # Intuit: the value changes every 24 hours
    sb.add_company(QBO_REALM, "Co")
    with SandboxServer(sb) as server:
        first = sb.issue_tokens(QBO_REALM)
        r = httpx.post(f"{server.url}/oauth2/v1/tokens/bearer", headers=_basic(sb),
                       data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
        assert r.json()["refresh_token"] == first["refresh_token"]
        assert r.json()["access_token"] != first["access_token"]


def test_expired_missing_and_revoked_tokens_are_401_authentication_faults(fresh) -> None:
    sb, server = fresh
    api = QboApi(sb, server.url)
    assert api.ok("GET", f"companyinfo/{QBO_REALM}")["CompanyInfo"]["CompanyName"] == "Auth Co"
    sb.expire_access_token(api.token)
    err = api.fault("GET", f"companyinfo/{QBO_REALM}", status=401)
    assert (err["code"], err["type"]) == ("3200", "AUTHENTICATION")
    assert err["Message"] == "message=AuthenticationFailed; errorCode=003200; statusCode=401"
    assert "expired" in err["Detail"]
    assert api.fault("GET", "preferences", token="nonsense", status=401)["code"] == "3200"
    fresh_tokens = sb.issue_tokens(QBO_REALM)
    r = httpx.post(f"{server.url}/oauth2/v1/tokens/revoke", json={"token": fresh_tokens["refresh_token"]},
                   headers=_basic(sb))
    assert r.status_code == 200
    assert api.fault("GET", "preferences", token=fresh_tokens["access_token"], status=401)["code"] == "3200"
    api.close()


def test_tokens_survive_a_restart(tmp_path: Path) -> None:
    sb = qbo_sandbox(tmp_path / "q.sqlite3")
    sb.add_company(QBO_REALM, "Co")
    tokens = sb.issue_tokens(QBO_REALM)
    again = qbo_sandbox(tmp_path / "q.sqlite3")
    with SandboxServer(again) as server:
        api = QboApi(again, server.url)
        assert api.ok("GET", "preferences", token=tokens["access_token"])["Preferences"]["Id"] == "1"
        api.close()
