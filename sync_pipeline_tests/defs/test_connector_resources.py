"""Resources hand every client they make the same rate limiter and circuit breaker; the accounting target of an
entity is the one its mapping names."""

import pytest

from sync_pipeline.connectors.accounting import TargetNotAvailable
from sync_pipeline.connectors.xero import XeroTarget
from sync_pipeline.contracts.mapping import EntityConfig
from sync_pipeline.defs.resources import TARGET_FACTORIES, HarvestResource, XeroResource


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
        x.target(_entity(target="qbo"))
    monkeypatch.setitem(TARGET_FACTORIES, "qbo", lambda resource, entity: ("qbo", entity.key))
    assert x.target(_entity(target="qbo")) == ("qbo", "acme-uk")  # registering a target is one entry
