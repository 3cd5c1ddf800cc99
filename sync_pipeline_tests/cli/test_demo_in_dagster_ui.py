"""What the Dagster UI shows after the quick demo (`sync-pipeline demo --entity acme-uk --period 2026-10`), read
through Dagster's GraphQL API (the API the UI itself uses) on the demo's own instance: money as a finance user
reads it, and check results per partition."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from dagster import DagsterInstance
from dagster._core.test_utils import in_process_test_workspace
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster_graphql.test.utils import execute_dagster_graphql

PARTITION = "acme-uk|2026-10-01"

MATERIALIZATION = """
query Materialization($key: AssetKeyInput!, $partition: String!) {
  assetOrError(assetKey: $key) { ... on Asset {
    assetMaterializations(partitions: [$partition], limit: 1) {
      partition
      metadataEntries { label ... on TextMetadataEntry { text } ... on MarkdownMetadataEntry { mdStr } }
    } } }
}"""

CHECK_EXECUTIONS = """
query Checks($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 10) {
    status partition evaluation { partition success }
  }
}"""


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """The demo run once into a fresh data folder and Dagster home, then the UI's GraphQL over that instance."""
    tmp = tmp_path_factory.mktemp("demo-ui")
    env = {**os.environ, "SYNC_PIPELINE_DATA_DIR": str(tmp / "data"), "DAGSTER_HOME": str(tmp / "dagster_home")}
    for k in ("HARVEST_BASE_URL", "XERO_BASE_URL"):
        env.pop(k, None)
    done = subprocess.run([sys.executable, "-m", "sync_pipeline.cli", "demo", "--free-ports", "--entity", "acme-uk",
                           "--period", "2026-10"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    with DagsterInstance.from_config(str(tmp / "dagster_home")) as instance, in_process_test_workspace(
            instance, LoadableTargetOrigin(module_name="sync_pipeline.defs.definitions", attribute="defs")) as ctx:
        yield ctx


def _metadata(ui, asset: str) -> dict[str, str]:
    res = execute_dagster_graphql(ui, MATERIALIZATION, {"key": {"path": [asset]}, "partition": PARTITION})
    [m] = res.data["assetOrError"]["assetMaterializations"]
    assert m["partition"] == PARTITION
    return {e["label"]: e.get("text") or e.get("mdStr") for e in m["metadataEntries"]}


def test_materializations_show_money_with_currency_net_tax_and_gross(ui):
    posted = _metadata(ui, "posted_invoices")
    assert posted["invoiced_net"] == "EUR 583.25 · GBP 817.50"
    assert posted["invoiced_tax"] == "EUR 116.65 · GBP 163.50"
    assert posted["invoiced_gross"] == "EUR 699.90 · GBP 981.00"  # what the demo prints as its totals
    assert "| Acme Corp (client 1) | created | INV-00001 | AUTHORISED | GBP 817.50 | GBP 163.50 | GBP 981.00 |" \
        in posted["preview"]
    drafts = _metadata(ui, "invoice_drafts")
    assert drafts["net_per_currency"] == "EUR 583.25 · GBP 817.50"
    for text in (*posted.values(), *drafts.values()):  # never raw minor units or twelve decimals
        assert "58325" not in str(text) and "583.250000" not in str(text)
    per_dimension = _metadata(ui, "sync_reconciliation")["per_dimension"]
    assert per_dimension.splitlines()[0] == "| what | docs ours / acc. | ours (net) | accounting (net) | status |"
    assert "| client: Globex GmbH (client 2) | 1 / 1 | EUR 583.25 | EUR 583.25 | match |" in per_dimension


@pytest.mark.parametrize("asset,check", [("sync_reconciliation", "sync_totals_match"),
                                         ("invoice_drafts", "conservation"),
                                         ("invoice_plan", "plan_within_limits")])
def test_every_check_result_carries_its_partition(ui, asset, check):
    res = execute_dagster_graphql(ui, CHECK_EXECUTIONS, {"key": {"path": [asset]}, "check": check})
    runs = res.data["assetCheckExecutions"]
    assert runs, f"{check} ran in the demo"
    assert {(r["partition"], r["evaluation"]["partition"]) for r in runs if r["evaluation"]} == {(PARTITION, PARTITION)}
    assert runs[0]["status"] == "SUCCEEDED"
