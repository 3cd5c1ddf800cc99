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
from sync_pipeline.contracts.mapping import EntityConfig, QboCompany
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


@pytest.fixture(params=["xero", "qbo"])
def target(request, sandboxes, tmp_path) -> Iterator[AccountingTarget]:
    """The accounting target posting writes to, each system on its sandbox in turn: Xero (the demo tenant) and
    QuickBooks Online (the sandbox's non-US company, ``accounting_targets.QBO_COMPANY``). Tests taking it speak
    only through :class:`AccountingTarget` and read back with :func:`live_documents`."""
    if request.param == "xero":
        c = XeroClient(sandboxes.xero_server.url, sandboxes.xero.client_id, sandboxes.xero.client_secret,
                       demo_data.XERO_TENANT_ID, max_attempts=4)
        c.http._backoff = lambda state: 0.05
        t: AccountingTarget = XeroTarget(c)
    else:
        from sync_pipeline_tests.accounting_targets import QBO_COMPANY
        from sync_pipeline_tests.conftest import _qbo_resource

        qbo = _qbo_resource(sandboxes, f"sqlite:///{tmp_path / 'qbo-tokens.sqlite3'}")
        if qbo is None:
            pytest.skip("the QuickBooks Online sandbox did not start")
        entity = ENTITY.model_copy(update={"target": "qbo", "xero_tenant_id": None,
                                           "qbo": QboCompany(**QBO_COMPANY)})
        t = qbo.target(entity)
    yield t
    t.close()


def live_documents(target: AccountingTarget, kind: str = "invoice", entity: str = "acme-uk",
                   period: str = "2026-10") -> list[Any]:
    """The period's documents of ``kind`` the target holds, neither voided nor deleted, in neutral terms."""
    listing = target.documents(kind, reference_prefix=ids.reference_prefix(entity, period))  # type: ignore[arg-type]
    return [d for d in listing.documents if d.status not in ("VOIDED", "DELETED")]


def net_per_reference(target: AccountingTarget) -> dict[str, Decimal]:
    """Live invoices minus credit notes, net of tax, per invoice group (the reference of revision 1)."""
    out: dict[str, Decimal] = {}
    for kind, sign in (("invoice", 1), ("credit_note", -1)):
        for d in live_documents(target, kind):
            base = ids.parse_reference(d.reference)
            key = ids.invoice_reference(base["entity"], base["client_id"], base["period"])
            out[key] = out.get(key, Decimal(0)) + sign * d.subtotal
    return out


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
