"""The vendored copy of Xero's official spec, and the rules read from it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sync_pipeline.contracts import xero_spec
from sync_pipeline_tests.sandbox.conftest import SHARED_SPEC_REASON, shared_dir


def test_the_vendored_spec_is_the_shared_one_unchanged_with_its_licence() -> None:
    shared = shared_dir() / "contracts" / "xero"
    if not (shared / "xero_accounting.yaml").exists():
        pytest.skip(SHARED_SPEC_REASON)
    assert xero_spec.SPEC_PATH.read_bytes() == (shared / "xero_accounting.yaml").read_bytes()
    assert (xero_spec.SPEC_PATH.parent / "LICENSE").read_bytes() == (shared / "LICENSE").read_bytes()


def test_check_reports_types_lengths_enums_guids_and_required_and_drops_unknown_fields() -> None:
    value = {"Name": "x" * 256, "IsSupplier": "yes", "ContactStatus": "GONE", "ContactID": "nope",
             "Colour": "red", "Addresses": [{"City": "Leeds", "Planet": "Earth"}], "Discount": Decimal("1.5")}
    cleaned, problems = xero_spec.check(value, xero_spec.schema("Contact"))
    assert [str(p) for p in problems] == [
        "Name: must be at most 255 characters long (it has 256)", "IsSupplier: must be a boolean, not a string",
        "ContactStatus: 'GONE' is not one of ACTIVE, ARCHIVED, GDPRREQUEST", "ContactID: 'nope' is not a GUID"]
    assert "Colour" not in cleaned and cleaned["Addresses"] == [{"City": "Leeds"}]
    _, problems = xero_spec.check({"Amount": 1}, xero_spec.schema("Allocation"))
    assert [str(p) for p in problems] == ["Invoice is required", "Date is required"]


def test_max_length_reads_the_spec() -> None:
    assert xero_spec.max_length("Contact", "Name") == 255
    assert xero_spec.max_length("Item", "Code") == 30
    assert xero_spec.max_length("LineItem", "Description") is None
