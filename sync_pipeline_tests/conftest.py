"""Shared fixtures: sandbox systems on free ports, resources bound to them, an ephemeral instance."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# the suite runs against local sandboxes: an unset API URL means the sandbox (defs.settings.api_base_url)
os.environ.setdefault("SYNC_PIPELINE_MODE", "test")

from dagster import DagsterInstance  # noqa: E402
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from sync_pipeline.defs import settings
from sync_pipeline.defs.resources import (
    FinanceConfigResource,
    FxResource,
    HarvestResource,
    MappingResource,
    OperationalStoreResource,
    QboResource,
    ReconciliationResource,
    RedmineResource,
    SloResource,
    WarehouseResource,
    XeroResource,
)
from sync_pipeline.sandbox import demo_data
from sync_pipeline.sandbox.run import Sandboxes, start_sandboxes

# Property-based tests run a fixed, reproducible budget in `make test` (derandomized: the same examples every run);
# HYPOTHESIS_PROFILE=long explores further (used by `make test-full`).
hypothesis_settings.register_profile("default", max_examples=100, derandomize=True, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.register_profile("long", max_examples=2_000, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Master keys for the session (store.keys): a keyring of its own, never the project's data.keys/ folder; subprocesses
# (the demo, the CLI) inherit it
if not os.environ.get("SYNC_PIPELINE_KEYS"):
    import tempfile

    os.environ["SYNC_PIPELINE_KEYS"] = "file:" + str(Path(tempfile.mkdtemp(prefix="sync-keys-")) / "keyring.json")


@pytest.fixture
def sandboxes(tmp_path: Path) -> Iterator[Sandboxes]:
    sb = start_sandboxes(tmp_path / "sandbox")
    try:
        yield sb
    finally:
        sb.stop()


def _qbo_resource(sandboxes: Sandboxes, store_url: str) -> QboResource | None:
    """QuickBooks Online at the sandbox, its realms' first refresh tokens in the test's operational store."""
    if sandboxes.qbo is None or sandboxes.qbo_server is None:
        return None
    from sync_pipeline.connectors.qbo import Tokens
    from sync_pipeline.sandbox.qbo_oauth import TOKEN_PATH
    from sync_pipeline.store.oauth_tokens import OAuthTokenStore
    from sync_pipeline.store.operational import OperationalStore

    tokens = OAuthTokenStore(OperationalStore(store_url).engine)
    for realm, refresh in (sandboxes.qbo_refresh_tokens or {}).items():
        tokens.save(realm, Tokens(refresh_token=refresh))
    return QboResource(base_url=sandboxes.qbo_server.url, token_url=sandboxes.qbo_server.url + TOKEN_PATH,
                       client_id=sandboxes.qbo.client_id, client_secret=sandboxes.qbo.client_secret,
                       store_url=store_url, max_attempts=3)


@pytest.fixture(params=["xero", "qbo"])
def accounting(request: pytest.FixtureRequest, resources: dict[str, object], tmp_path: Path):
    """The demo entity on each accounting system in turn (``sync_pipeline_tests/accounting_targets.py``)."""
    from sync_pipeline_tests.accounting_targets import Accounting, mapping_on

    resources["mapping"] = MappingResource(path=str(mapping_on(request.param, tmp_path / "mapping-target.yaml")))
    return Accounting(request.param, resources)


@pytest.fixture
def resources(sandboxes: Sandboxes, tmp_path: Path) -> dict[str, object]:
    return {
        "harvest": HarvestResource(base_url=sandboxes.harvest_server.url, access_token=sandboxes.harvest.token,
                                   max_attempts=3),
        "xero": XeroResource(base_url=sandboxes.xero_server.url, client_id=sandboxes.xero.client_id,
                             client_secret=sandboxes.xero.client_secret, max_attempts=3,
                             qbo=_qbo_resource(sandboxes, f"sqlite:///{tmp_path / 'operational.sqlite3'}")),
        "redmine": RedmineResource(),  # not configured: only entities with source redmine need it
        # people are pseudonymized in the warehouse, as in production (services.pseudonymize)
        "warehouse": WarehouseResource(root=str(tmp_path / "warehouse"),
                                       people_store=f"sqlite:///{tmp_path / 'operational.sqlite3'}"),
        "opstore": OperationalStoreResource(url=f"sqlite:///{tmp_path / 'operational.sqlite3'}"),
        "mapping": MappingResource(path=settings.mapping_path()),
        "fx": FxResource(),
        "finance_config": FinanceConfigResource(path=settings.finance_config_path()),
        "reconciliation": ReconciliationResource(path=settings.reconciliation_config_path(),
                                                 statements_dir=str(tmp_path / "statements")),
        "slo": SloResource(),
    }


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with DagsterInstance.ephemeral() as inst:
        inst.add_dynamic_partitions("entity", [demo_data.DEMO_ENTITY])
        yield inst


# -- Xero contract test: every request the Xero connector sends validates against the OpenAPI spec -----------
@pytest.fixture(autouse=True)
def xero_requests_conform_to_openapi(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """Record the Xero requests of this test and validate them against the official spec afterwards."""
    from sync_pipeline.connectors import xero
    from sync_pipeline_tests import xero_openapi

    sent: list[xero_openapi.Recorded] = []
    original = xero.XeroClient.__init__

    def recording_init(self, *args, **kw):
        original(self, *args, **kw)
        self.http.event_hooks.setdefault("request", []).append(lambda r: xero_openapi.record(r, sent))

    monkeypatch.setattr(xero.XeroClient, "__init__", recording_init)
    yield sent
    if not sent or request.node.get_closest_marker("xero_openapi_exempt"):
        return
    spec = xero_openapi.load_spec()
    if isinstance(spec, str):
        reason = spec
        import warnings

        warnings.warn(f"Xero OpenAPI contract check skipped: {reason}", stacklevel=1)
        return
    problems = xero_openapi.validate(sent)
    if problems:
        pytest.fail(f"{len(problems)} Xero request(s) do not conform to the OpenAPI spec:\n" + "\n".join(problems),
                    pytrace=False)


@pytest.fixture(autouse=True)
def _no_leaked_defs_state_storage():
    """Start and end every test without a context-local Dagster defs-state storage.

    Directly invoking a schedule that returns ``SkipReason`` (Dagster 1.13.27) leaves a test instance's
    defs-state storage set in the context; once that instance is closed, the next ``Definitions`` to resolve
    its repository fails with "Attempted to resolve undefined DagsterInstance weakref".
    """
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield
    _current_storage.set(None)


@pytest.fixture
def standing_approval(resources: dict[str, object]) -> None:
    """An auto-approval policy (proposed and approved by two admins) for the demo entity in the test's store:
    for tests of billing and posting mechanics that are not about approving plans (services.approvals)."""
    from sync_pipeline_tests.identity import standing_policy

    standing_policy(resources["opstore"].get(), demo_data.DEMO_ENTITY)  # type: ignore[attr-defined]
