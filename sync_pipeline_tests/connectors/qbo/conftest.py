"""A fake QuickBooks company behind MockTransport, and the client / target bound to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync_pipeline.connectors.limits import RateLimiter, RateLimits
from sync_pipeline.connectors.qbo import MemoryTokenStore, QboAuth, QboClient, QboSettings, QboTarget, Tokens
from sync_pipeline_tests.connectors.qbo.fake_qbo import REALM, FakeQbo, transport

BASE = "https://sandbox-quickbooks.api.intuit.com"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"


def make_client(fake: FakeQbo, store: MemoryTokenStore | None = None, **kw) -> QboClient:
    store = store or MemoryTokenStore({REALM: Tokens(refresh_token=fake.refresh_token)})
    auth = QboAuth(REALM, "qbo-client-id", "qbo-client-secret-abcdef", store, token_url=TOKEN_URL,
                   transport=transport(fake))
    return QboClient(BASE, auth, transport=transport(fake), batch_limiter=RateLimiter(RateLimits()), **kw)


@pytest.fixture
def fake() -> FakeQbo:
    return FakeQbo()


@pytest.fixture
def client(fake: FakeQbo) -> Iterator[QboClient]:
    c = make_client(fake)
    yield c
    c.close()


@pytest.fixture
def target(client: QboClient) -> QboTarget:
    return QboTarget(client, QboSettings(realm_id=REALM, home_currency="USD", tax_model="us",
                                         tax_codes={"OUTPUT2": "TAX", "NONE": "NON"}, us_sales_tax_code="3"))
