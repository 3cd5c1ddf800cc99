"""``ProjectSource``: one interface behind Harvest, Redmine and the CSV exports; differences are capabilities."""

from __future__ import annotations

import os

import pytest

from sync_pipeline.connectors.project import (
    CAPABILITIES,
    SOURCE_CAPABILITIES,
    SOURCES,
    Connections,
    ProjectSource,
    UnsupportedCapability,
    open_source,
)
from sync_pipeline.contracts.mapping import Mapping
from sync_pipeline.domain.periods import Period
from sync_pipeline_tests.connectors.test_csv_exports import HEADER

TENANT = "3f1c2a9e-6b7d-4e21-9a55-0c8d7e6f5a41"


def _entity(source: str, **extra):
    return Mapping.model_validate({"version": 2, "entities": [{
        "key": "e", "name": "E", "timezone": "Europe/London", "base_currency": "GBP", "source": source,
        "xero_tenant_id": TENANT, **extra}]}).entities[0]


ENTITIES = {"harvest": lambda tmp: _entity("harvest", harvest_account_id="1"),
            "redmine": lambda tmp: _entity("redmine"),
            "csv": lambda tmp: _entity("csv", csv_export={"kind": "harvest", "folder": str(tmp)})}


def _never(*_a):
    raise AssertionError("a capability check must not connect to the project system")


NO_NETWORK = Connections(harvest=_never, redmine=_never)


def test_every_source_in_the_mapping_has_an_implementation():
    assert set(SOURCES) == set(ENTITIES) == set(SOURCE_CAPABILITIES)


@pytest.mark.parametrize("system", sorted(ENTITIES))
def test_each_source_says_what_it_supports_without_connecting(system, tmp_path):
    source = open_source(ENTITIES[system](tmp_path), NO_NETWORK)
    assert isinstance(source, ProjectSource) and source.system == system
    assert {c for c in CAPABILITIES if source.supports(c)} == SOURCE_CAPABILITIES[system]
    source.close()


def test_harvest_has_the_api_capabilities_csv_takes_imports_redmine_has_none():
    assert SOURCE_CAPABILITIES["harvest"] == {"change_feed", "expenses", "invoice_marks", "heartbeat_probe",
                                              "payment_write_back"}
    assert SOURCE_CAPABILITIES["csv"] == {"file_import"}
    assert SOURCE_CAPABILITIES["redmine"] == frozenset()


@pytest.mark.parametrize("ask", ["expenses", "change_feed", "entry_writer", "settlement_writer"])
def test_asking_for_a_missing_capability_is_refused_with_the_fix(ask, tmp_path):
    source = open_source(ENTITIES["redmine"](tmp_path), NO_NETWORK)
    with pytest.raises(UnsupportedCapability, match=r"the redmine source has no .*; check supports\("):
        getattr(source, ask)(*([Period.parse("2026-10")] if ask == "expenses" else []))


def test_the_harvest_source_opens_its_client_once_and_closes_it():
    opened: list[str] = []

    class FakeClient:
        closed = False

        class http:  # noqa: N801 - stands in for HttpClient's counters
            request_count, retry_count = 3, 1

        def close(self):
            FakeClient.closed = True

    def harvest(account: str):
        opened.append(account)
        return FakeClient()

    source = open_source(ENTITIES["harvest"](None),
                         Connections(harvest=harvest, redmine=_never, harvest_health=lambda: {"circuit": "closed"}))
    assert source.change_feed() is source.entry_writer() and opened == ["1"]
    assert source.figures() == {"api_requests": 3, "api_retries": 1, "harvest_circuit": "closed"}
    source.close()
    assert FakeClient.closed


def test_the_csv_source_settles_refused_and_superseded_rows_before_streaming(tmp_path):
    row = ('2026-10-05,Acme Corp,Acme Website,ACM-WEB,Development,Work,"2.5",2,Yes,No,Yes,Alice,Archer,,'
           'Yes,100,0,50,0,British Pound - GBP,')
    bad = row.replace('"2.5"', '"two"')
    (tmp_path / "oct.csv").write_text("\n".join([HEADER, row, bad]) + "\n", encoding="utf-8")
    os.utime(tmp_path / "oct.csv", (1_000, 1_000))
    read = open_source(ENTITIES["csv"](tmp_path), NO_NETWORK).time_entries(Period.parse("2026-10"))
    rows = [read.reader(r, "") for page in read.pages for r in page]
    assert len(rows) == 1 and rows[0]["hours"] is not None
    assert read.prepared is not None and read.prepared.quarantined == 1
    assert read.prepared.metadata["quarantined_export_rows"] == 1 and read.prepared.superseded.empty


def test_the_redmine_source_bills_each_client_in_its_mapped_currency():
    from sync_pipeline_tests.services.test_extract import REDMINE_PROJECTS, redmine_doc

    class FakeRedmine:
        def time_entries(self, *, start, end):
            assert (start.isoformat(), end.isoformat()) == ("2026-01-01", "2026-01-31")
            return iter([[redmine_doc(0), redmine_doc(1, hours=True)]])

        def projects(self):
            return REDMINE_PROJECTS

        def close(self):
            pass

    entity = _entity("redmine", base_currency="EUR", clients=[{"source_id": "acme", "currency": "GBP"}])
    read = open_source(entity, Connections(harvest=_never, redmine=FakeRedmine)).time_entries(Period.parse("2026-01"))
    rows = [read.reader(r, "2026-02-01T00:00:00Z") for page in read.pages for r in page]
    assert read.prepared is None and rows[0]["client_currency"] == "GBP"
    assert rows[1].__class__.__name__ == "Rejected" and rows[1].problems[0].field == "hours"
