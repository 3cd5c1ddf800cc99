"""``sync-pipeline qbo connect``: Intuit's authorization code grant against the QuickBooks sandbox, the refresh
token stored encrypted and used by the entity's target afterwards."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
import sqlalchemy as sa

from sync_pipeline.cli import UserError, main
from sync_pipeline.cli.qbo import connect
from sync_pipeline.sandbox import demo_data
from sync_pipeline.store import audit
from sync_pipeline.store.oauth_tokens import OAuthTokenStore, oauth_tokens
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline_tests.accounting_targets import mapping_on
from sync_pipeline_tests.identity import sign_in

ENTITY, REALM = demo_data.DEMO_ENTITY, demo_data.QBO_REALM_UK


@pytest.fixture
def qbo_env(sandboxes, monkeypatch, tmp_path) -> str:
    if sandboxes.qbo is None or sandboxes.qbo_server is None:
        pytest.skip("the QuickBooks Online sandbox did not start")
    url = f"sqlite:///{tmp_path / 'op.sqlite3'}"
    monkeypatch.setenv("SYNC_PIPELINE_STORE_URL", url)
    monkeypatch.setenv("SYNC_PIPELINE_MAPPING", str(mapping_on("qbo", tmp_path / "mapping.yaml")))
    monkeypatch.setenv("QBO_BASE_URL", sandboxes.qbo_server.url)
    monkeypatch.setenv("QBO_CLIENT_ID", sandboxes.qbo.client_id)
    monkeypatch.setenv("QBO_CLIENT_SECRET", sandboxes.qbo.client_secret)
    for var in ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "QBO_AUTHORIZE_URL"):
        monkeypatch.delenv(var, raising=False)
    return url


def consent(rewrite=lambda query: query):
    """What a person does with the printed address: open it (the sandbox consents at once, for its first company
    unless ``x_realm`` names one) and follow Intuit's redirect to the command's listener; ``rewrite`` changes the
    query first."""
    def show(url: str) -> None:
        parts = urlparse(url)
        query = rewrite({k: v[-1] for k, v in parse_qs(parts.query).items()})
        threading.Thread(target=httpx.get, args=(parts._replace(query=urlencode(query)).geturl(),),
                         kwargs={"follow_redirects": True, "timeout": 10}, daemon=True).start()
    return show


def test_connect_stores_the_companys_refresh_token_encrypted_and_the_target_uses_it(qbo_env):
    seen = []
    # the person picks the entity's company on Intuit's consent page (the sandbox: ``x_realm``)
    realm = connect(ENTITY, actor="ada", port=0, timeout=20,
                    show=consent(lambda q: seen.append(q) or {**q, "x_realm": REALM}))
    assert realm == REALM
    [query] = seen
    assert (query["response_type"], query["scope"]) == ("code", "com.intuit.quickbooks.accounting")
    assert query["redirect_uri"].startswith("http://localhost:") and query["redirect_uri"].endswith("/qbo/callback")
    store = OperationalStore(qbo_env)
    tokens = OAuthTokenStore(store.engine).load(REALM)
    assert tokens is not None and tokens.refresh_token and tokens.access_token
    with store.engine.connect() as c:
        raw = c.execute(sa.select(oauth_tokens.c.refresh_token).where(oauth_tokens.c.account == REALM)).scalar_one()
    assert tokens.refresh_token not in raw  # encrypted at rest
    [event] = audit.events(store, action="qbo_connected")
    assert (event.actor, event.entity, event.subject) == ("ada", ENTITY, f"realm {REALM}")

    # the entity's target now works with what was stored (the access token, then a rotated refresh)
    from sync_pipeline.contracts.mapping import load_mapping
    from sync_pipeline.defs import settings
    from sync_pipeline.defs.resources import accounting_resource

    target = accounting_resource(dagster=False).target(load_mapping(settings.mapping_path()).entity(ENTITY))
    try:
        target.probe()
        assert target.account_id == REALM
    finally:
        target.close()


def test_a_forged_state_or_another_company_is_refused_and_nothing_is_stored(qbo_env, sandboxes):
    with pytest.raises(UserError, match="another state than the one sent"):
        connect(ENTITY, actor="ada", port=0, timeout=20, show=consent(lambda q: {**q, "state": "forged"}))
    with pytest.raises(UserError, match=f"the company connected is {demo_data.QBO_REALM_US}, but entity {ENTITY}"):
        connect(ENTITY, actor="ada", port=0, timeout=20,
                show=consent(lambda q: {**q, "x_realm": demo_data.QBO_REALM_US}))
    with pytest.raises(UserError, match="no answer from Intuit within 1 s"):
        connect(ENTITY, actor="ada", port=0, timeout=1, show=lambda url: None)
    assert OAuthTokenStore(OperationalStore(qbo_env).engine).load(REALM) is None


def test_only_an_admin_connects_and_only_an_entity_on_quickbooks(qbo_env, monkeypatch, capsys):
    sign_in(monkeypatch, qbo_env, "olga", "operator")
    assert main(["qbo", "connect", "--entity", ENTITY, "--port", "0", "--timeout", "1"]) == 2
    assert "qbo.connect" in capsys.readouterr().err
    monkeypatch.delenv("SYNC_PIPELINE_MAPPING")  # the demo's mapping: the entity posts to Xero
    sign_in(monkeypatch, qbo_env, "ada", "admin")
    assert main(["qbo", "connect", "--entity", ENTITY, "--port", "0", "--timeout", "1"]) == 2
    assert "does not post to QuickBooks Online" in capsys.readouterr().err
