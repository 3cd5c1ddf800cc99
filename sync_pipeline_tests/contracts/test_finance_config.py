"""The finance configuration: the shipped example loads; mistakes are reported with the key and the fix."""

import pytest

from sync_pipeline.contracts.finance import FinanceConfigError, load_finance_config, parse_finance_config
from sync_pipeline.defs import settings
from sync_pipeline_tests.services.finance_fixtures import CONFIG


def test_example_configuration_loads():
    cfg = load_finance_config(settings.finance_config_path())
    assert cfg.reporting_currency == "EUR"
    assert {p.driver for p in cfg.cost_pools} == {"hours", "headcount", "usage", "fixed_key"}
    assert all(len(p.methodology) > 20 for p in cfg.cost_pools)


@pytest.mark.parametrize("change, message", [
    ({"reporting_currency": "XXX"}, "unknown currency 'XXX'"),
    ({"cost_pools": [{**CONFIG["cost_pools"][0], "driver": "revenue"}]}, "cost_pools.0.driver"),
    ({"cost_pools": [{**CONFIG["cost_pools"][0], "accounts": ["720"]}]}, "account 720 is capex"),
    ({"cost_pools": [{**CONFIG["cost_pools"][0], "accounts": ["555"]}]}, "account 555 is not classified"),
    ({"cost_pools": [CONFIG["cost_pools"][0], {**CONFIG["cost_pools"][1], "accounts": ["469"]}]},
     "account 469 feeds both pool rent and pool it"),
    ({"cost_pools": [{**CONFIG["cost_pools"][2], "usage_metric": None}]}, "driver usage needs usage_metric"),
    ({"accounts": [{"code": "720", "expense_class": "capex"}]}, "needs capitalization_code and depreciation_code"),
    ({"usage": [{"entity": "acme-uk", "period": "2026-10", "project_id": "1", "metric": "m", "quantity": 1.5}]},
     'write numbers as quoted strings'),
])
def test_mistakes_name_the_key_and_the_fix(change, message):
    with pytest.raises(FinanceConfigError) as e:
        parse_finance_config({**CONFIG, **change}, "finance.yaml")
    assert message in str(e.value)
