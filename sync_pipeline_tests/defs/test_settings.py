"""Settings: API URLs fall back to the sandbox only in an explicit sandbox mode; credentials from files."""

import os

import pytest

from sync_pipeline.connectors.transport import InsecureTransport
from sync_pipeline.defs import settings
from sync_pipeline.defs.resources import HarvestResource, XeroResource, default_resources


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setenv("SYNC_PIPELINE_MODE", "production")
    for var in ("HARVEST_BASE_URL", "XERO_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    for var in ("HARVEST_ACCESS_TOKEN", "XERO_CLIENT_ID", "XERO_CLIENT_SECRET"):
        monkeypatch.setenv(var, "x")


def test_outside_sandbox_mode_an_unset_url_is_an_error_not_the_sandbox(production):
    with pytest.raises(settings.MissingSetting, match="XERO_BASE_URL is not set.*SYNC_PIPELINE_MODE=sandbox"):
        settings.api_base_url("XERO_BASE_URL", settings.XERO_DEFAULT_URL)
    assert settings.api_base_url("XERO_BASE_URL", settings.XERO_DEFAULT_URL, required=False) == ""
    res = default_resources()  # the code location still loads; the resource refuses when first used
    with pytest.raises(settings.MissingSetting, match="HARVEST_BASE_URL is not set"):
        res["harvest"].client("123")
    with pytest.raises(settings.MissingSetting, match="XERO_BASE_URL is not set"):
        res["xero"].client("tenant")


@pytest.mark.parametrize("mode", ["sandbox", "demo", "test"])
def test_sandbox_modes_use_the_local_sandbox(monkeypatch, mode):
    monkeypatch.setenv("SYNC_PIPELINE_MODE", mode)
    monkeypatch.delenv("HARVEST_BASE_URL", raising=False)
    assert settings.api_base_url("HARVEST_BASE_URL", settings.HARVEST_DEFAULT_URL) == settings.HARVEST_DEFAULT_URL


def test_a_clear_text_api_url_is_refused_in_every_mode(production):
    with pytest.raises(InsecureTransport, match="HARVEST_BASE_URL http://harvest.example.com"):
        HarvestResource(base_url="http://harvest.example.com", access_token="t").client("1")
    with pytest.raises(InsecureTransport, match="token URL"):
        XeroResource(base_url="https://api.xero.com", client_id="c", client_secret="s",
                     token_url="http://identity.example.com/connect/token").client("t")
    c = HarvestResource(base_url="https://api.harvestapp.com", access_token="t").client("1")
    c.close() if hasattr(c, "close") else None


def test_credentials_come_from_a_file_or_a_secrets_folder(tmp_path):
    (tmp_path / "token").write_text("from-file\n")
    folder = tmp_path / "secrets"
    folder.mkdir()
    (folder / "XERO_CLIENT_SECRET").write_text("from-folder")
    env = {"HARVEST_ACCESS_TOKEN_FILE": str(tmp_path / "token"), "SYNC_PIPELINE_SECRETS_DIR": str(folder),
           "XERO_CLIENT_ID": "set-directly"}
    (folder / "XERO_CLIENT_ID").write_text("ignored: the environment wins")
    filled = settings.load_secret_files(env)
    assert sorted(filled) == ["HARVEST_ACCESS_TOKEN", "XERO_CLIENT_SECRET"]
    assert env["HARVEST_ACCESS_TOKEN"] == "from-file"  # trailing newline dropped
    assert env["XERO_CLIENT_SECRET"] == "from-folder"
    assert env["XERO_CLIENT_ID"] == "set-directly"
    # rotation: the file is replaced, the next process start reads the new value
    (tmp_path / "token").write_text("rotated")
    env2 = {"HARVEST_ACCESS_TOKEN_FILE": str(tmp_path / "token")}
    settings.load_secret_files(env2)
    assert env2["HARVEST_ACCESS_TOKEN"] == "rotated"


def test_a_secret_file_that_is_not_there_says_so(tmp_path):
    with pytest.raises(settings.MissingSetting, match="HARVEST_ACCESS_TOKEN_FILE points to .*not a readable file"):
        settings.load_secret_files({"HARVEST_ACCESS_TOKEN_FILE": str(tmp_path / "absent")})
    assert "HARVEST_ACCESS_TOKEN" not in os.environ or os.environ["HARVEST_ACCESS_TOKEN"] != str(tmp_path)
