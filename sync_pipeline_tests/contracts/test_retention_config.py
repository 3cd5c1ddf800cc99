"""The retention file: the documented defaults load; a bad file names the key and the fix."""

import pytest

from sync_pipeline.contracts.retention import RetentionConfigError, load_retention_config
from sync_pipeline.defs import settings


def test_the_documented_defaults_load():
    cfg = load_retention_config(settings.retention_config_path())
    policy = cfg.policy({"acme-uk": "GB"})
    assert policy.tax_years_for("GB") == 6 and policy.tax_years_for("DE") == 10 and policy.tax_years_for("US") == 7
    assert cfg.assets["raw_time_entries"] == "time_entries" and policy.entity_jurisdictions["acme-uk"] == "GB"
    assert all(policy.classes[c].tax for c in ("time_entries", "billing", "invoices", "bank", "finance"))


def test_a_bad_file_says_what_is_wrong(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("classes: {a: {personal_years: 5, keep_years: 2}}\n")
    with pytest.raises(RetentionConfigError, match="personal_years .5. after keep_years .2."):
        load_retention_config(p)
    p.write_text("classes: {a: {}}\nassets: {raw_time_entries: nope}\n")
    with pytest.raises(RetentionConfigError, match="assets name classes that are not under classes"):
        load_retention_config(p)
    with pytest.raises(RetentionConfigError, match="not found: set SYNC_PIPELINE_RETENTION"):
        load_retention_config(tmp_path / "absent.yaml")
