"""Resources hand every client they make the same rate limiter and circuit breaker."""

from sync_pipeline.defs.resources import HarvestResource, XeroResource


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
