"""The Redmine resource is optional: unconfigured, it only fails when a Redmine entity is extracted, and says how
to configure it."""

import pytest

from sync_pipeline.defs.resources import RedmineResource, default_resources


def test_an_unconfigured_redmine_says_what_to_set(monkeypatch):
    monkeypatch.delenv("REDMINE_API_KEY", raising=False)
    with pytest.raises(RuntimeError, match=r"source: redmine.*REDMINE_BASE_URL \(now unset\).*\$REDMINE_API_KEY"):
        RedmineResource().client()
    monkeypatch.setenv("SP_KEY", "k")
    c = RedmineResource(base_url="https://redmine.test", api_key_env="SP_KEY").client()
    try:
        assert str(c.http._client.base_url).startswith("https://redmine.test")
        assert c.http._client.headers["X-Redmine-API-Key"] == "k"
    finally:
        c.close()


def test_the_default_resources_include_redmine_without_needing_it(monkeypatch):
    monkeypatch.delenv("REDMINE_BASE_URL", raising=False)
    assert isinstance(default_resources()["redmine"], RedmineResource)
