"""Signing in for tests: a user with the given roles in the test's operational store, and their API token."""

from __future__ import annotations

from sync_pipeline.store.identity import Identities
from sync_pipeline.store.operational import OperationalStore


def token_for(store_url: str, name: str, *roles: str, kind: str = "person") -> str:
    """Create (or update) ``name`` with ``roles`` in the store at ``store_url``; an API token for them."""
    store = OperationalStore(store_url)
    try:
        ids = Identities(store)
        ids.add(name, list(roles), by="pytest-admin", kind=kind)
        return ids.issue_token(name, by="pytest-admin", days=1)
    finally:
        store.dispose()


def sign_in(monkeypatch, store_url: str, name: str, *roles: str) -> str:
    """Point the CLI at ``store_url`` and sign in as ``name`` (SYNC_PIPELINE_TOKEN)."""
    monkeypatch.setenv("SYNC_PIPELINE_STORE_URL", store_url)
    token = token_for(store_url, name, *roles)
    monkeypatch.setenv("SYNC_PIPELINE_TOKEN", token)
    return token
