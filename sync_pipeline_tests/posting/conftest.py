"""Posting fixtures: drafts built by hand, a Xero client on the sandbox, the operational store on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from sync_pipeline.connectors.accounting import AccountingTarget
from sync_pipeline.connectors.xero import XeroClient, XeroTarget
from sync_pipeline.contracts.mapping import EntityConfig
from sync_pipeline.domain import ids
from sync_pipeline.domain.money import to_minor
from sync_pipeline.sandbox import demo_data
from sync_pipeline.store.operational import OperationalStore

PG_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
ENTITY = EntityConfig(key="acme-uk", name="Acme UK Ltd", timezone="Europe/London", base_currency="GBP",
                      harvest_account_id=demo_data.HARVEST_ACCOUNT_ID, xero_tenant_id=demo_data.XERO_TENANT_ID)


def pg_available() -> bool:
    try:
        with sa.create_engine(PG_ADMIN_URL).connect() as c:
            c.execute(sa.text("select 1"))
        return True
    except Exception:  # noqa: BLE001
        return False


def make_store(kind: str, tmp_path) -> Iterator[OperationalStore]:
    if kind == "sqlite":
        s = OperationalStore(f"sqlite:///{tmp_path / 'op.sqlite3'}")
        yield s
        s.dispose()
        return
    if not pg_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (.ci/run starts it)")
    name = f"sp_posting_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    s = OperationalStore(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}")
    try:
        yield s
    finally:
        s.dispose()
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request, tmp_path) -> Iterator[OperationalStore]:
    yield from make_store(request.param, tmp_path)


@pytest.fixture
def sqlite_store(tmp_path) -> Iterator[OperationalStore]:
    yield from make_store("sqlite", tmp_path)


@pytest.fixture
def xero(sandboxes) -> Iterator[XeroClient]:
    c = XeroClient(sandboxes.xero_server.url, sandboxes.xero.client_id, sandboxes.xero.client_secret,
                   demo_data.XERO_TENANT_ID, max_attempts=4)
    c.http._backoff = lambda state: 0.05  # fast retries in tests; Retry-After still honoured
    yield c
    c.close()


@pytest.fixture
def target(xero) -> AccountingTarget:
    """The accounting target posting writes to: Xero on the sandbox (the one place to add another target)."""
    return as_target(xero)


def as_target(client: Any) -> AccountingTarget:
    """A target for an accounting client fixture (a target, or a fake with ``documents``, stays itself)."""
    return client if isinstance(client, AccountingTarget) or hasattr(client, "documents") else XeroTarget(client)


def drafts(entity: str, period: str, lines: list[tuple]) -> pd.DataFrame:
    """Invoice draft lines: (client_id, client_name, currency, project, task, rate, hours, "entry,ids")."""
    rows = []
    for client, name, ccy, project, task, rate, hours, entries in lines:
        q, u = Decimal(hours), Decimal(rate)
        rows.append({
            "entity": entity, "period": period, "invoice_key": ids.invoice_key(entity, client, period),
            "reference": ids.invoice_reference(entity, client, period), "client_id": client, "client_name": name,
            "currency": ccy, "project_id": project, "project_name": f"Project {project}", "task_id": task,
            "task_name": f"Task {task}", "line_no": 0, "description": f"Project {project} — Task {task}",
            "quantity": q, "unit_amount": u, "line_amount_minor": to_minor(q * u, ccy), "source_value": q * u,
            "account_code": "200", "tax_type": "OUTPUT2", "entry_count": len(entries.split(",")),
            "source_entry_ids": entries,
        })
    df = pd.DataFrame(rows)
    if len(df):
        df["line_no"] = df.groupby("invoice_key").cumcount() + 1
    return df
