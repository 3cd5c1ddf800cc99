"""Warehouse contracts (pandera): a change that breaks an older consumer fails here unless versioned and translated."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from sync_pipeline.contracts import versions
from sync_pipeline.contracts.warehouse import RawTimeEntry

MODELS = versions.warehouse_models()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_older_consumers_can_read_the_current_contract(name):
    model = MODELS[name]
    current = versions.fingerprint(model)
    snaps = versions.snapshots(name)
    if not snaps:
        pytest.fail(f"{name} has no snapshot: run `sync-pipeline contracts snapshot` and commit "
                    f"sync_pipeline/contracts/schemas/{name}.v{current['version']}.json")
    for v, snap in sorted(snaps.items()):
        problems = versions.breaking_changes(snap, current)
        if not problems:
            continue
        if v < current["version"] and versions.has_translator(name, current["version"], v):
            continue
        pytest.fail(f"{name}: consumers of v{v} would break ({'; '.join(problems)}). Bump {name}'s contract_version "
                    "(class Config: metadata = {'contract_version': N}), register a frame translator to the older "
                    "version in sync_pipeline.contracts.versions, add a line to docs/contracts-changelog.md and run "
                    "`sync-pipeline contracts snapshot`.")


def test_the_rules_catch_each_kind_of_breaking_change():
    old = versions.fingerprint(RawTimeEntry)
    assert versions.breaking_changes(old, old) == []
    new = copy.deepcopy(old)
    del new["columns"]["notes"]
    new["columns"]["hours"]["dtype"] = "float64"
    new["columns"]["billable"]["nullable"] = True
    new["columns"]["extra"] = {"dtype": "str", "nullable": True, "unique": False, "required": True,
                               "allowed_values": None, "checks": []}
    assert sorted(versions.breaking_changes(old, new)) == [
        "column 'billable' became nullable", "column 'hours' dtype Decimal(12, 6) → float64", "column 'notes' removed"]
    clean = versions.fingerprint(MODELS["CleanTimeEntry"])
    wider = copy.deepcopy(clean)
    wider["columns"]["disposition"]["allowed_values"].append("written_off")
    assert versions.breaking_changes(clean, wider) == ["column 'disposition' allows new values ['written_off']"]
    assert versions.breaking_changes(wider, clean) == []  # fewer values: old consumers are fine


def test_a_registered_translator_lets_two_versions_run_side_by_side():
    # a hypothetical v2 of a contract that renamed notes → description
    @versions.frame_translator("ExampleRenamed", 2, 1)
    def _v2_to_v1(df: pd.DataFrame) -> pd.DataFrame:
        return df.rename(columns={"description": "notes"})

    assert versions.has_translator("ExampleRenamed", 2, 1)
    v2 = pd.DataFrame({"entry_id": ["1"], "description": ["Checkout flow"]})
    assert list(versions.translate_frame("ExampleRenamed", v2, 2, 1).columns) == ["entry_id", "notes"]
    with pytest.raises(KeyError, match="no translator"):
        versions.translate_frame("ExampleRenamed", v2, 2, 3)


def test_additive_columns_are_invisible_to_older_consumers():
    snap = versions.snapshots("RawTimeEntry")[1]
    df = pd.DataFrame([{c: None for c in snap["columns"]} | {"new_col": 1}])
    assert list(versions.project_to(df, snap).columns) == list(snap["columns"])
