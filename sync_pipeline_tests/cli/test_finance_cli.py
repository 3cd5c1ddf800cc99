"""``sync-pipeline finance``: the re-allocation options become the job's run config; bad options say how to fix."""

import pytest

from sync_pipeline.cli import UserError, build_parser
from sync_pipeline.cli.finance import reallocation_config
from sync_pipeline.defs.finance.assets import AllocationRunConfig


def test_options_become_a_valid_run_config():
    config = reallocation_config(["rent=hours", "cloud=usage:gb_hours"], ["management=11:1,21:3"],
                                 ["gb_hours=11:100,21:300.5"], "Q4 review")
    assert config == {
        "pools": [{"key": "rent", "driver": "hours"}, {"key": "cloud", "driver": "usage", "usage_metric": "gb_hours"},
                  {"key": "management", "fixed_key": [{"project_id": "11", "weight": "1"},
                                                      {"project_id": "21", "weight": "3"}]}],
        "note": "Q4 review",
        "usage": [{"project_id": "11", "metric": "gb_hours", "quantity": "100"},
                  {"project_id": "21", "metric": "gb_hours", "quantity": "300.5"}],
    }
    overrides = AllocationRunConfig(**config).overrides()
    assert [p.key for p in overrides.pools] == ["rent", "cloud", "management"]
    assert str(overrides.usage[1].quantity) == "300.5"


@pytest.mark.parametrize("driver, weights", [(["rent"], []), ([], ["management=11"])])
def test_malformed_options_are_user_errors(driver, weights):
    with pytest.raises(UserError):
        reallocation_config(driver, weights, [], "")


def test_commands_are_registered():
    args = build_parser().parse_args(["finance", "versions", "--entity", "acme-uk", "--period", "2026-10"])
    assert args.func.__name__ == "cmd_versions"


def test_finance_refuses_a_period_that_has_not_closed_with_the_latest_closed_one():
    from sync_pipeline.cli.finance import closed_period
    from sync_pipeline.defs.partitions import closed_period_partitions, period_partitions

    open_month = period_partitions.get_last_partition_key()[:7]
    latest = closed_period_partitions.get_last_partition_key()[:7]
    with pytest.raises(UserError, match=f"period {open_month} has not closed.*the latest is {latest}"):
        closed_period(open_month)
    assert closed_period(latest).key == latest
