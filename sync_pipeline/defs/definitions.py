"""The code location: every asset, check, job and resource, merged in one place."""

from __future__ import annotations

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

from sync_pipeline.defs import jobs
from sync_pipeline.defs.billing import assets as billing_assets
from sync_pipeline.defs.billing import checks as billing_checks
from sync_pipeline.defs.extract import assets as extract_assets
from sync_pipeline.defs.posting import assets as posting_assets
from sync_pipeline.defs.posting import checks as posting_checks
from sync_pipeline.defs.reconciliation import assets as reconciliation_assets
from sync_pipeline.defs.reconciliation import checks as reconciliation_checks
from sync_pipeline.defs.resources import default_resources

_asset_modules = [extract_assets, billing_assets, posting_assets, reconciliation_assets]
_check_modules = [billing_checks, posting_checks, reconciliation_checks]



def build_defs(resources: dict[str, object] | None = None) -> Definitions:
    """The definitions with the given resources (tests pass sandbox-bound ones)."""
    return Definitions(
        assets=load_assets_from_modules(_asset_modules),
        asset_checks=load_asset_checks_from_modules(_check_modules),
        jobs=[jobs.sync_job],
        resources=resources if resources is not None else default_resources(),
    )


defs = build_defs()
