"""Resources hand every client they make the same rate limiter and circuit breaker; the accounting target of an
entity is the one its mapping names."""

import pytest

from sync_pipeline.connectors.accounting import TargetNotAvailable
from sync_pipeline.connectors.qbo import QboTarget
from sync_pipeline.connectors.xero import XeroTarget
from sync_pipeline.contracts.mapping import EntityConfig
from sync_pipeline.defs.resources import TARGET_FACTORIES, HarvestResource, QboResource, XeroResource


def test_clients_of_one_resource_share_limiter_and_breaker():
    h = HarvestResource(base_url="http://127.0.0.1:9", access_token="tok-abcdef")
    a, b = h.client("1"), h.client("2")
    assert a.http.limiter is b.http.limiter and a.http.breaker is b.http.breaker
    assert a.http.limiter.limits.windows[0].limit == 100
    assert h.health() == {"circuit": "closed", "rate_limit_waits": 0}
    x = XeroResource(base_url="http://127.0.0.1:9", client_id="c", client_secret="secret-123456")
    t1, t1b, t2 = x.client("tenant-1"), x.client("tenant-1"), x.client("tenant-2")
    assert t1.http.limiter is t1b.http.limiter and t1.http.limiter is not t2.http.limiter  # Xero counts per tenant
    assert t1.http.breaker is t2.http.breaker
    assert HarvestResource(base_url="http://127.0.0.1:9", access_token="tok-abcdef").client("1").http.breaker \
        is not a.http.breaker  # a new resource (a new run) starts closed
    for c in (a, b, t1, t1b, t2):
        c.close()


def _entity(**kw) -> EntityConfig:
    return EntityConfig(key="acme-uk", name="Acme", timezone="Europe/London", base_currency="GBP",
                        harvest_account_id="1", **kw)


def test_the_mapping_names_the_accounting_target_and_an_unknown_one_says_so(monkeypatch):
    x = XeroResource(base_url="http://127.0.0.1:9", client_id="c", client_secret="secret-123456")
    tenant = "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41"
    target = x.target(_entity(xero_tenant_id=tenant))
    assert isinstance(target, XeroTarget) and target.account_id == tenant
    target.close()
    monkeypatch.delitem(TARGET_FACTORIES, "qbo", raising=False)
    with pytest.raises(TargetNotAvailable, match="target: qbo, which is not available in this installation yet"):
        x.target(_entity(target="qbo", qbo=QBO))
    monkeypatch.setitem(TARGET_FACTORIES, "qbo", lambda resource, entity: ("qbo", entity.key))
    assert x.target(_entity(target="qbo", qbo=QBO)) == ("qbo", "acme-uk")  # registering a target is one entry


QBO = {"realm_id": "9130357992233431", "home_currency": "USD", "tax_model": "us", "tax_codes": {"OUTPUT2": "TAX"}}


def test_a_qbo_entity_gets_a_quickbooks_target_when_quickbooks_is_configured(tmp_path):
    entity = _entity(target="qbo", qbo=QBO)
    with pytest.raises(TargetNotAvailable, match="QuickBooks Online is not configured; set QBO_CLIENT_ID"):
        XeroResource(base_url="http://127.0.0.1:9", client_id="c", client_secret="secret-123456").target(entity)
    qbo = QboResource(base_url="http://127.0.0.1:9", token_url="http://127.0.0.1:9/oauth2/v1/tokens/bearer",
                      client_id="c", client_secret="secret-123456", store_url=f"sqlite:///{tmp_path / 'op.sqlite3'}")
    x = XeroResource(base_url="http://127.0.0.1:9", client_id="c", client_secret="secret-123456", qbo=qbo)
    target = x.target(entity)
    assert isinstance(target, QboTarget) and target.account_id == QBO["realm_id"]
    assert target.settings.tax_model == "us" and target.settings.tax_codes == {"OUTPUT2": "TAX"}
    again = x.target(entity)
    assert again.client.http.limiter is target.client.http.limiter  # Intuit counts per realm
    assert again.client.batch_limiter is target.client.batch_limiter
    for t in (target, again):
        t.close()


def test_default_resources_read_the_quickbooks_settings_of_the_moment(monkeypatch, tmp_path):
    """Like every other connector's settings, QuickBooks' are read when the resources are built: a process that
    built them before QBO_CLIENT_ID was set (a CLI command run in-process after the definitions loaded) must not
    keep "not configured" for good, nor an earlier base URL."""
    from sync_pipeline.defs.resources import default_resources

    monkeypatch.setenv("SYNC_PIPELINE_STORE_URL", f"sqlite:///{tmp_path / 'op.sqlite3'}")
    monkeypatch.delenv("QBO_CLIENT_ID", raising=False)
    assert default_resources()["xero"].qbo is None
    monkeypatch.setenv("QBO_CLIENT_ID", "qbo-client")
    monkeypatch.setenv("QBO_CLIENT_SECRET", "qbo-secret-123456")
    monkeypatch.setenv("QBO_BASE_URL", "http://127.0.0.1:9")
    qbo = default_resources()["xero"].qbo
    assert qbo is not None and qbo.base_url == "http://127.0.0.1:9"
    assert qbo.token_url == "http://127.0.0.1:9/oauth2/v1/tokens/bearer"
    monkeypatch.setenv("QBO_BASE_URL", "http://127.0.0.1:10")
    assert default_resources()["xero"].qbo.base_url == "http://127.0.0.1:10"


def test_the_accounting_targets_outside_a_run_come_from_the_environment(monkeypatch, tmp_path):
    from sync_pipeline.defs.resources import accounting_from_environment

    for k in ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "QBO_CLIENT_ID", "QBO_CLIENT_SECRET"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("SYNC_PIPELINE_MODE", "sandbox")
    monkeypatch.setenv("SYNC_PIPELINE_STORE_URL", f"sqlite:///{tmp_path / 'ops.sqlite3'}")
    monkeypatch.setenv("XERO_BASE_URL", "http://127.0.0.1:9")
    assert accounting_from_environment() is None  # without Xero's credentials: nothing to post to
    monkeypatch.setenv("XERO_CLIENT_ID", "sandbox-client")
    monkeypatch.setenv("XERO_CLIENT_SECRET", "sandbox-secret")
    x = accounting_from_environment()
    assert (x.base_url, x.client_id, x.client_secret, x.qbo) == ("http://127.0.0.1:9", "sandbox-client",
                                                                 "sandbox-secret", None)
    monkeypatch.setenv("QBO_CLIENT_ID", "qbo-client")
    monkeypatch.setenv("QBO_CLIENT_SECRET", "qbo-secret")
    monkeypatch.setenv("QBO_BASE_URL", "http://127.0.0.1:8")
    q = accounting_from_environment().qbo
    assert (q.client_id, q.client_secret, q.base_url) == ("qbo-client", "qbo-secret", "http://127.0.0.1:8")


@pytest.mark.parametrize("configured", ["qbo", "xero"])
def test_an_installation_on_one_accounting_system_needs_only_its_settings(configured, monkeypatch, tmp_path):
    """The Dagster resource starts with one system's credentials; an entity on it gets its target, built alone (no
    client of the other system); an entity on the other is refused by name, saying what to set."""
    from dagster import build_resources

    from sync_pipeline.defs.resources import accounting_resource

    for var in ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "QBO_CLIENT_ID", "QBO_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SYNC_PIPELINE_STORE_URL", f"sqlite:///{tmp_path / 'op.sqlite3'}")
    monkeypatch.setenv("XERO_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("QBO_BASE_URL", "http://127.0.0.1:9")
    prefix = configured.upper()
    monkeypatch.setenv(f"{prefix}_CLIENT_ID", "client-1")
    monkeypatch.setenv(f"{prefix}_CLIENT_SECRET", "secret-123456")
    on_qbo, on_xero = _entity(target="qbo", qbo=QBO), _entity(xero_tenant_id="3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41")
    ours, other = (on_qbo, on_xero) if configured == "qbo" else (on_xero, on_qbo)
    for dagster in (True, False):  # in a run (secrets read by Dagster) and in a CLI command or the workbench
        resource = accounting_resource(dagster=dagster)
        with build_resources({"xero": resource}) as built:
            accounting = built.xero
            target = accounting.target(ours)
            assert isinstance(target, QboTarget if configured == "qbo" else XeroTarget)
            assert target.client.http.breaker.name == configured
            if configured == "qbo":
                assert accounting._limiters == {}  # no Xero client was made
            target.close()
            missing = "XERO_CLIENT_ID" if configured == "qbo" else "QBO_CLIENT_ID"
            with pytest.raises(TargetNotAvailable, match=f"entity acme-uk: the mapping says target: "
                                                         f"{other.target}, but .* not configured; set {missing}"):
                accounting.target(other)


def test_every_resource_of_the_process_spends_one_quota_per_company(tmp_path):
    """Dagster builds each run's resources afresh: a limiter per resource let a run and the next (or the workbench)
    together pass QuickBooks' 10 requests a second per realm and app, and sit out its 429 for 60 s. Clients of the
    same company, app and API address share one limiter; another company, app or address has its own."""
    def qbo(base="http://127.0.0.1:9", client="c") -> QboResource:
        return QboResource(base_url=base, token_url=f"{base}/oauth2/v1/tokens/bearer", client_id=client,
                           client_secret="secret-123456", store_url=f"sqlite:///{tmp_path / 'op.sqlite3'}")

    realm, other = "9130357992233432", "9130357992233431"
    clients = [qbo().client(realm), qbo().client(realm), qbo().client(other), qbo(client="d").client(realm),
               qbo(base="http://127.0.0.1:10").client(realm)]
    first, again, *others = clients
    assert first.http.limiter is again.http.limiter and first.batch_limiter is again.batch_limiter
    assert all(c.http.limiter is not first.http.limiter for c in others)
    assert first.http.breaker is not again.http.breaker  # a new resource (a new run) still starts closed
    tenant = "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41"
    xeros = [XeroResource(base_url="http://127.0.0.1:9", client_id="c", client_secret="secret-123456").client(tenant)
             for _ in range(2)]
    assert xeros[0].http.limiter is xeros[1].http.limiter  # Xero: per tenant and app
    for c in (*clients, *xeros):
        c.close()
