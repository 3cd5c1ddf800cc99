"""Redmine source against a REAL Redmine 5 (Debian package), seeded by ../shared/tools/redmine/seed.py."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from sync_pipeline.connectors.http import AuthError
from sync_pipeline.connectors.redmine import RedmineClient, custom_field, map_time_entry
from sync_pipeline.contracts.warehouse import RawTimeEntry
from sync_pipeline.services.extract import extract_redmine_time_entries

pytestmark = pytest.mark.redmine


@pytest.fixture
def client(redmine):
    c = RedmineClient(redmine["url"], redmine["api_key"])
    yield c
    c.close()


def test_offset_pagination_streams_every_seeded_entry_once(client):
    pages = list(client.pages("time_entries", limit=37))
    ids = [e["id"] for p in pages for e in p]
    assert len(ids) == len(set(ids)) == 200  # the seed: 200 entries
    assert max(len(p) for p in pages) <= 37
    assert sum(Decimal(str(e["hours"])) for p in pages for e in p) == Decimal("449.5")
    assert all(isinstance(e["hours"], (Decimal, int)) for p in pages for e in p)  # never a float


def test_projects_issues_users(client):
    projects = client.projects()
    assert {p["identifier"] for p in projects.values()} >= {"acme-web", "data-pipeline", "mobile-app"}
    issues = [i for p in client.issues() for i in p]
    assert len(issues) == 20 and {i["status"]["name"] for i in issues} >= {"New", "Closed"}
    logins = {u["login"] for p in client.users() for u in p}
    assert {"alice", "bob", "carol", "dave", "erin"} <= logins


def test_time_entries_map_into_the_raw_contract_with_the_billable_custom_field(client):
    df = extract_redmine_time_entries(client, date(2025, 9, 1), date(2025, 10, 31))
    assert len(df) == 200 and df["entry_id"].is_unique
    RawTimeEntry.validate(df, lazy=True)  # the same warehouse contract as Harvest
    assert int(df["billable"].sum()) == 120  # the seed: billable "1" on 120 entries, "0" on 80
    assert set(df["client_id"]) == {"acme-web", "data-pipeline", "mobile-app"}
    assert df["source"].eq("redmine").all() and df["billable_rate"].isna().all()
    assert sum(df["hours"]) == Decimal("449.5")
    october = extract_redmine_time_entries(client, date(2025, 10, 1), date(2025, 10, 31))
    assert 0 < len(october) < 200 and october["spent_date"].min() >= "2025-10-01"


def test_filters_by_project_and_billable_custom_field(client, redmine):
    web = [e for p in client.pages("time_entries", project_id="acme-web") for e in p]
    assert web and {e["project"]["name"] for e in web} == {"ACME Website Relaunch"}
    billable = [e for p in client.pages("time_entries", **{f"cf_{redmine['billable_cf_id']}": "1"}) for e in p]
    assert len(billable) == 120 and {custom_field(e, "billable") for e in billable} == {"1"}


def test_map_time_entry_uses_the_root_project_as_client_and_notes_the_issue():
    projects = {1: {"id": 1, "identifier": "acme", "name": "Acme"},
                2: {"id": 2, "identifier": "acme-web", "name": "Web", "parent": {"id": 1}}}
    row = map_time_entry({"id": 7, "project": {"id": 2, "name": "Web"}, "issue": {"id": 42}, "user": {"id": 5, "name": "A"},
                          "activity": {"id": 9, "name": "Design"}, "hours": Decimal("1.25"), "comments": "mock-ups",
                          "spent_on": "2025-10-01", "updated_on": "2025-10-02T10:00:00Z",
                          "custom_fields": [{"id": 1, "name": "billable", "value": "1"}]}, projects, "now")
    assert (row["client_id"], row["project_code"], row["task_name"], row["notes"], row["billable"]) == \
        ("acme", "acme-web", "Design", "#42 mock-ups", True)
    RawTimeEntry.validate(pd.DataFrame([row]))


def test_wrong_key_is_an_auth_error(redmine):
    c = RedmineClient(redmine["url"], "0" * 40)
    with pytest.raises(AuthError, match="check the credentials of redmine"):
        next(c.pages("projects"))
