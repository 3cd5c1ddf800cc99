"""Resources: configured once per deployment; secrets only through ``EnvVar``."""

from __future__ import annotations

import os
from collections.abc import Callable

from dagster import ConfigurableResource, EnvVar, InitResourceContext
from pydantic import PrivateAttr

from sync_pipeline.connectors.accounting import AccountingTarget, TargetNotAvailable
from sync_pipeline.connectors.fx import EcbBundledProvider, EcbHttpProvider, FxProvider
from sync_pipeline.connectors.harvest import HarvestClient
from sync_pipeline.connectors.limits import HARVEST_LIMITS, XERO_LIMITS, CircuitBreaker, RateLimiter, shared_limiter
from sync_pipeline.connectors.qbo import QBO_BATCH_LIMITS, QBO_LIMITS, QboAuth, QboClient, QboSettings, QboTarget, Tokens
from sync_pipeline.connectors.qbo.auth import TOKEN_URL as QBO_TOKEN_URL
from sync_pipeline.connectors.redmine import RedmineClient
from sync_pipeline.connectors.transport import require_secure
from sync_pipeline.connectors.xero import XeroClient, XeroTarget
from sync_pipeline.contracts.finance import FinanceConfig, load_finance_config
from sync_pipeline.contracts.mapping import EntityConfig, Mapping, load_mapping
from sync_pipeline.contracts.reconciliation import ReconciliationConfig, load_reconciliation_config
from sync_pipeline.defs import settings
from sync_pipeline.defs.redaction import protect
from sync_pipeline.store.oauth_tokens import OAuthTokenStore
from sync_pipeline.store.operational import OperationalStore
from sync_pipeline.store.warehouse import Warehouse


def _require_url(var: str, url: str, sandbox_default: str) -> None:
    """An API base URL is set (no silent fallback to the sandbox outside sandbox mode) and https."""
    if not url:
        raise settings.MissingSetting(settings.missing_url_message(var, sandbox_default))
    require_secure(url, var)


class HarvestResource(ConfigurableResource):
    """The project system (Harvest API v2 or the local sandbox)."""

    base_url: str
    access_token: str
    timeout_seconds: float = 30.0
    max_attempts: int = 5

    # one limiter (Harvest counts per token) and one breaker for every client this resource makes
    _limiter: RateLimiter = PrivateAttr(default_factory=lambda: RateLimiter(HARVEST_LIMITS, name="harvest"))
    _breaker: CircuitBreaker = PrivateAttr(default_factory=lambda: CircuitBreaker(name="harvest"))

    def setup_for_execution(self, context: InitResourceContext) -> None:
        protect(context.log, [self.access_token])  # the token never reaches the event log

    def client(self, account_id: str) -> HarvestClient:
        _require_url("HARVEST_BASE_URL", self.base_url, settings.HARVEST_DEFAULT_URL)
        return HarvestClient(self.base_url, self.access_token, account_id, timeout=self.timeout_seconds,
                             max_attempts=self.max_attempts, limiter=self._limiter, breaker=self._breaker)

    def health(self) -> dict[str, object]:
        """Circuit state and limiter figures, for asset metadata."""
        return {"circuit": self._breaker.state, "rate_limit_waits": self._limiter.stats.waits}


class QboResource(ConfigurableResource):
    """QuickBooks Online (Intuit's API or the local sandbox): one client per company (realm).

    Intuit rotates refresh tokens: each realm's tokens live in the operational store (``store/oauth_tokens.py``)
    and every refresh is saved there before use. The first refresh token of a realm (from connecting the app to the
    company) is read once from ``QBO_REFRESH_TOKEN_<realmId>`` when the store has none."""

    base_url: str
    client_id: str
    client_secret: str | None = None
    token_url: str = QBO_TOKEN_URL
    store_url: str = ""
    timeout_seconds: float = 60.0
    max_attempts: int = 5

    # Intuit counts per realm and app: limiters per realm, one breaker for the system
    _limiters: dict[str, tuple[RateLimiter, RateLimiter]] = PrivateAttr(default_factory=dict)
    _breaker: CircuitBreaker = PrivateAttr(default_factory=lambda: CircuitBreaker(name="qbo"))

    def setup_for_execution(self, context: InitResourceContext) -> None:
        protect(context.log, [self.client_secret] if self.client_secret else [])

    def tokens(self) -> OAuthTokenStore:
        return OAuthTokenStore(_store(self.store_url or settings.operational_store_url()).engine)

    def client(self, realm_id: str) -> QboClient:
        if not self.client_secret:
            raise TargetNotAvailable("QuickBooks Online is not configured: QBO_CLIENT_ID is set but "
                                     "QBO_CLIENT_SECRET is not (Intuit developer portal → your app → Keys)")
        require_secure(self.token_url, "the QuickBooks token URL")
        store = self.tokens()
        if store.load(realm_id) is None and os.environ.get(f"QBO_REFRESH_TOKEN_{realm_id}"):
            store.save(realm_id, Tokens(refresh_token=os.environ[f"QBO_REFRESH_TOKEN_{realm_id}"]))
        # Intuit counts per realm and app: every resource of this process (each run builds its own) shares them
        quota = ("qbo", self.base_url, self.client_id, realm_id)
        limiter, batches = self._limiters.setdefault(realm_id, (
            shared_limiter(QBO_LIMITS, quota=quota, name=f"qbo:{realm_id}"),
            shared_limiter(QBO_BATCH_LIMITS, quota=(*quota, "batch"), name=f"qbo-batch:{realm_id}")))
        auth = QboAuth(realm_id, self.client_id, self.client_secret, store, token_url=self.token_url,
                       timeout=self.timeout_seconds)
        return QboClient(self.base_url, auth, timeout=self.timeout_seconds, max_attempts=self.max_attempts,
                         limiter=limiter, batch_limiter=batches, breaker=self._breaker)

    def target(self, entity: EntityConfig) -> AccountingTarget:
        q = entity.qbo
        if q is None:
            raise TargetNotAvailable(f"entity {entity.key}: target qbo needs the mapping's qbo block (realm_id, ...)")
        return QboTarget(self.client(q.realm_id), QboSettings(
            realm_id=q.realm_id, home_currency=q.home_currency, tax_model=q.tax_model, tax_codes=dict(q.tax_codes),
            us_sales_tax_code=q.us_sales_tax_code, custom_doc_numbers=q.custom_doc_numbers, items=dict(q.items),
            accounts=dict(q.accounts)))

    def health(self) -> dict[str, object]:
        return {"circuit": self._breaker.state,
                "rate_limit_waits": sum(a.stats.waits + b.stats.waits for a, b in self._limiters.values())}


class XeroResource(ConfigurableResource):
    """The accounting systems: Xero (Accounting API or the local sandbox) and, in ``qbo``, QuickBooks Online.

    Each is configured only where entities use it: :meth:`target` builds the one client the entity's ``target:``
    names, and only that target's settings are required (an installation on QuickBooks alone sets no Xero ones)."""

    base_url: str
    client_id: str | None = None
    client_secret: str | None = None
    token_url: str | None = None
    timeout_seconds: float = 30.0
    max_attempts: int = 5
    #: QuickBooks Online, for entities whose mapping says ``target: qbo`` (None: not configured here)
    qbo: QboResource | None = None

    # Xero counts per tenant: one limiter per tenant, one breaker for the system
    _limiters: dict[str, RateLimiter] = PrivateAttr(default_factory=dict)
    _breaker: CircuitBreaker = PrivateAttr(default_factory=lambda: CircuitBreaker(name="xero"))

    def setup_for_execution(self, context: InitResourceContext) -> None:
        protect(context.log, [self.client_secret] if self.client_secret else [])

    def client(self, tenant_id: str) -> XeroClient:
        if not self.client_id or not self.client_secret:
            raise TargetNotAvailable("Xero is not configured: set XERO_CLIENT_ID and XERO_CLIENT_SECRET (the "
                                     "sandbox's are printed by `sync-pipeline sandbox up`)")
        _require_url("XERO_BASE_URL", self.base_url, settings.XERO_DEFAULT_URL)
        if self.token_url:
            require_secure(self.token_url, "the Xero token URL")
        limiter = self._limiters.setdefault(tenant_id, shared_limiter(  # Xero counts per tenant and app
            XERO_LIMITS, quota=("xero", self.base_url, self.client_id, tenant_id), name=f"xero:{tenant_id[:8]}"))
        return XeroClient(self.base_url, self.client_id, self.client_secret, tenant_id, token_url=self.token_url,
                          timeout=self.timeout_seconds, max_attempts=self.max_attempts, limiter=limiter,
                          breaker=self._breaker)

    def health(self) -> dict[str, object]:
        return {"circuit": self._breaker.state,
                "rate_limit_waits": sum(x.stats.waits for x in self._limiters.values())}

    def target(self, entity: EntityConfig) -> AccountingTarget:
        """The accounting target of ``entity``, as its mapping's ``target:`` names it (:data:`TARGET_FACTORIES`)."""
        factory = TARGET_FACTORIES.get(entity.target)
        if factory is None:
            raise TargetNotAvailable(
                f"entity {entity.key}: the mapping says target: {entity.target}, which is not available in this "
                f"installation yet (available: {', '.join(sorted(TARGET_FACTORIES))}); set target: xero, or install "
                f"the {entity.target} connector")
        return factory(self, entity)


def xero_target(resource: XeroResource, entity: EntityConfig) -> AccountingTarget:
    if not resource.client_id or not resource.client_secret:
        raise TargetNotAvailable(f"entity {entity.key}: the mapping says target: xero, but Xero is not configured; "
                                 "set XERO_CLIENT_ID and XERO_CLIENT_SECRET (and XERO_BASE_URL for the sandbox)")
    return XeroTarget(resource.client(str(entity.xero_tenant_id)))


def qbo_target(resource: XeroResource, entity: EntityConfig) -> AccountingTarget:
    if resource.qbo is None:
        raise TargetNotAvailable(f"entity {entity.key}: the mapping says target: qbo, but QuickBooks Online is not "
                                 "configured; set QBO_CLIENT_ID and QBO_CLIENT_SECRET (and QBO_BASE_URL for the "
                                 "sandbox)")
    return resource.qbo.target(entity)


#: The accounting targets this installation can build: the mapping's ``target:`` name → factory(resource, entity).
#: A new accounting system registers itself here with one line (see docs/connectors.md).
TARGET_FACTORIES: dict[str, Callable[[XeroResource, EntityConfig], AccountingTarget]] = {"xero": xero_target,
                                                                                  "qbo": qbo_target}


class RedmineResource(ConfigurableResource):
    """A Redmine project system (REST API, ``X-Redmine-API-Key``), for entities whose mapping says
    ``source: redmine``. Optional: the key is read from the environment variable named by ``api_key_env``
    when a Redmine entity is extracted, so deployments without Redmine need no Redmine settings."""

    base_url: str = ""
    api_key_env: str = "REDMINE_API_KEY"
    timeout_seconds: float = 30.0
    max_attempts: int = 5

    def setup_for_execution(self, context: InitResourceContext) -> None:
        key = os.environ.get(self.api_key_env)
        if key:
            protect(context.log, [key])

    def client(self) -> RedmineClient:
        key = os.environ.get(self.api_key_env)
        if not self.base_url or not key:
            raise RuntimeError(
                f"an entity's mapping says source: redmine, but Redmine is not configured: set REDMINE_BASE_URL "
                f"(now {self.base_url or 'unset'}) and the API key in ${self.api_key_env} (now "
                f"{'set' if key else 'unset'}; Redmine: My account → API access key)")
        require_secure(self.base_url, "REDMINE_BASE_URL")
        return RedmineClient(self.base_url, key, timeout=self.timeout_seconds, max_attempts=self.max_attempts)


class WarehouseResource(ConfigurableResource):
    """Parquet files per asset partition, queried with DuckDB.

    ``people_store``: the operational store that keeps people's pseudonyms and keys (``services.pseudonymize``):
    extracts replace names by pseudonyms and encrypt notes before they are written. Set by ``default_resources``;
    empty only in tests of billing mechanics that read names back.
    """

    root: str
    people_store: str = ""

    def get(self) -> Warehouse:
        return Warehouse(self.root)

    def protect_rows(self, notes_context: str):
        """What an extract applies to its rows before writing them; None when people are not protected."""
        if not self.people_store:
            return None
        from sync_pipeline.services.pseudonymize import rows_protector

        return rows_protector(_store(self.people_store), notes_context)

    def protect_frame(self, df, notes_context: str):
        if not self.people_store:
            return df
        from sync_pipeline.services.pseudonymize import protect_frame

        return protect_frame(_store(self.people_store), df, notes_context)

    def seal(self, df, asset: str):
        """``df`` with ``asset``'s encrypted columns (bank payers, quarantined values) encrypted, to be written."""
        if not self.people_store:
            return df
        from sync_pipeline.services.pseudonymize import seal_frame

        return seal_frame(_store(self.people_store), df, asset)

    def open(self, df, asset: str):
        """The inverse of :meth:`seal`, in memory."""
        if not self.people_store:
            return df
        from sync_pipeline.services.pseudonymize import open_frame

        return open_frame(_store(self.people_store), df, asset)


def _qbo_resource(*, dagster: bool = True) -> QboResource | None:
    """QuickBooks Online when ``QBO_CLIENT_ID`` is set, else None (entities with ``target: qbo`` then fail by
    name). ``QBO_BASE_URL`` (default Intuit's production API), ``QBO_TOKEN_URL`` (default Intuit's; for a base URL
    that is not Intuit's, e.g. the sandbox, the same server's token endpoint). Read whenever the resources are
    built, like every other connector's settings: never kept from an earlier call (a CLI command run in the same
    process may come with other settings)."""
    if not os.environ.get("QBO_CLIENT_ID"):
        return None
    base = os.environ.get("QBO_BASE_URL", "").strip() or "https://quickbooks.api.intuit.com"
    token_url = os.environ.get("QBO_TOKEN_URL", "").strip() or (
        QBO_TOKEN_URL if base.rstrip("/").endswith(".intuit.com") else f"{base.rstrip('/')}/oauth2/v1/tokens/bearer")
    return QboResource(base_url=base, token_url=token_url, client_id=_secret("QBO_CLIENT_ID", dagster),
                       client_secret=_secret("QBO_CLIENT_SECRET", dagster), store_url=settings.operational_store_url())


def _secret(var: str, dagster: bool):
    """A credential from the environment: ``EnvVar`` for Dagster to read where it is used (never stored in the
    run's config), or the value itself for a CLI command or the workbench; None when unset."""
    if not os.environ.get(var):
        return None
    return EnvVar(var) if dagster else os.environ[var]


def accounting_resource(*, dagster: bool = True) -> XeroResource:
    """The accounting systems as the environment configures them: Xero when ``XERO_CLIENT_ID`` and
    ``XERO_CLIENT_SECRET`` are set, QuickBooks Online when ``QBO_CLIENT_ID`` is. Neither is required until an
    entity's ``target:`` names it. ``dagster=False``: plain values, for code outside a Dagster run."""
    return XeroResource(base_url=settings.api_base_url("XERO_BASE_URL", settings.XERO_DEFAULT_URL, required=False),
                        client_id=_secret("XERO_CLIENT_ID", dagster),
                        client_secret=_secret("XERO_CLIENT_SECRET", dagster), qbo=_qbo_resource(dagster=dagster))


def accounting_from_environment() -> XeroResource | None:
    """The accounting targets for work outside a Dagster run (``sync-pipeline posting``, the workbench's settlement
    and re-posts): :func:`accounting_resource` with the secrets read now (outside a run an EnvVar is only the
    variable's name). None when neither Xero (``XERO_CLIENT_ID`` and ``XERO_CLIENT_SECRET``) nor QuickBooks Online
    (``QBO_CLIENT_ID``) is configured."""
    xero = os.environ.get("XERO_CLIENT_ID") and os.environ.get("XERO_CLIENT_SECRET")
    if not xero and not os.environ.get("QBO_CLIENT_ID"):
        return None
    return accounting_resource(dagster=False)


def _store(url: str) -> OperationalStore:
    return OperationalStore(url)


class OperationalStoreResource(ConfigurableResource):
    """Sync ledger, audit log (SQLite file locally, PostgreSQL in production)."""

    url: str
    _opened: OperationalStore | None = PrivateAttr(default=None)

    def get(self) -> OperationalStore:
        """The store, opened once per run (the in-process executor sets resources up once for all of a run's
        steps): opening it (schema check, audit triggers, data keys) cost more than most steps' own work. Not
        kept longer, so a long-lived process (the code server's sensors) sees rotated or destroyed keys."""
        if self._opened is None:
            self._opened = _store(self.url)
        return self._opened


class MappingResource(ConfigurableResource):
    """The mapping document (entities, accounts, tax codes, billing rules)."""

    path: str

    def load(self) -> Mapping:
        return load_mapping(self.path)


class FxResource(ConfigurableResource):
    """Where FX reference rates come from: ``ecb_bundled`` (offline, default) or ``ecb_http`` (live ``url``)."""

    provider: str = "ecb_bundled"
    url: str = EcbHttpProvider.DEFAULT_URL

    def get(self) -> FxProvider:
        if self.provider == "ecb_bundled":
            return EcbBundledProvider()
        if self.provider == "ecb_http":
            return EcbHttpProvider(self.url)
        raise ValueError(f"unknown FX provider {self.provider!r}; use 'ecb_bundled' (offline) or 'ecb_http' (live)")


class FinanceConfigResource(ConfigurableResource):
    """The finance configuration (cost pools and drivers, Capex/Opex, intercompany, translation)."""

    path: str

    def load(self) -> FinanceConfig:
        return load_finance_config(self.path)


class ReconciliationResource(ConfigurableResource):
    """Cash-matching policy per entity and the folder bank statement files arrive in."""

    path: str = ""
    statements_dir: str = ""  # overrides the file's statements_dir when set

    def load(self) -> ReconciliationConfig:
        return load_reconciliation_config(self.path)

    def statements_root(self) -> str:
        return self.statements_dir or self.load().statements_dir


class HeartbeatResource(ConfigurableResource):
    """The heartbeat probe: an entity, one of its time entries, and that entry's client (billing nothing else
    in the period). Unset = the heartbeat sensor skips."""

    entity: str | None = None
    entry_id: str | None = None
    client_id: str | None = None
    deadline_seconds: int = 900

    @property
    def configured(self) -> bool:
        return bool(self.entity and self.entry_id and self.client_id)


class SloResource(ConfigurableResource):
    """The SLO file (objectives, teams, routes) and the alert channels; URLs and the password via ``EnvVar``."""

    path: str = ""  # empty: $SYNC_PIPELINE_SLO or docs/slo.example.yaml
    webhook_url: str | None = None
    slack_webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "sync-pipeline@localhost"
    smtp_starttls: bool = True
    heartbeat_entity: str | None = None  # the heartbeat probe's entity (SYNC_PIPELINE_HEARTBEAT_ENTITY)

    def load(self):
        from sync_pipeline.contracts.slo import load_slo_config

        return load_slo_config(self.path or settings.slo_config_path())

    def channels(self):
        from sync_pipeline.services.alert_routing import Channels
        from sync_pipeline.services.alerts import SmtpSettings

        smtp = None
        if self.smtp_host:
            smtp = SmtpSettings(self.smtp_host, self.smtp_port, sender=self.smtp_from, username=self.smtp_user,
                                password=self.smtp_password, starttls=self.smtp_starttls)
        return Channels(webhook_url=self.webhook_url, slack_webhook_url=self.slack_webhook_url, smtp=smtp)


def _env(var: str):
    """``EnvVar(var)`` when the variable is set (the value is read where it is used, never stored), else None."""
    return EnvVar(var) if os.environ.get(var) else None


def slo_resource() -> SloResource:
    return SloResource(
        path=settings.slo_config_path(),
        webhook_url=_env("SYNC_PIPELINE_ALERT_WEBHOOK_URL"),
        slack_webhook_url=_env("SYNC_PIPELINE_SLACK_WEBHOOK_URL"),
        smtp_host=os.environ.get("SYNC_PIPELINE_SMTP_HOST") or None,
        smtp_port=int(os.environ.get("SYNC_PIPELINE_SMTP_PORT", "587")),
        smtp_user=os.environ.get("SYNC_PIPELINE_SMTP_USER") or None,
        smtp_password=_env("SYNC_PIPELINE_SMTP_PASSWORD"),
        smtp_from=os.environ.get("SYNC_PIPELINE_SMTP_FROM", "sync-pipeline@localhost"),
        smtp_starttls=os.environ.get("SYNC_PIPELINE_SMTP_STARTTLS", "1").lower() not in ("0", "false", "no"),
        heartbeat_entity=os.environ.get("SYNC_PIPELINE_HEARTBEAT_ENTITY") or None,
    )


def default_resources() -> dict[str, object]:
    """Local sandbox by default; point the URLs at the real systems in production."""
    return {
        "harvest": HarvestResource(
            base_url=settings.api_base_url("HARVEST_BASE_URL", settings.HARVEST_DEFAULT_URL, required=False),
            access_token=EnvVar("HARVEST_ACCESS_TOKEN"),
        ),
        "xero": accounting_resource(),
        "redmine": RedmineResource(base_url=os.environ.get("REDMINE_BASE_URL", "")),
        "warehouse": WarehouseResource(root=settings.warehouse_root(), people_store=settings.operational_store_url()),
        "opstore": OperationalStoreResource(url=settings.operational_store_url()),
        "mapping": MappingResource(path=settings.mapping_path()),
        "fx": FxResource(provider=os.environ.get("SYNC_PIPELINE_FX_PROVIDER", "ecb_bundled")),
        "finance_config": FinanceConfigResource(path=settings.finance_config_path()),
        "reconciliation": ReconciliationResource(path=settings.reconciliation_config_path(),
                                                 statements_dir=os.environ.get("SYNC_PIPELINE_STATEMENTS_DIR", "")),
        "heartbeat_probe": HeartbeatResource(
            entity=os.environ.get("SYNC_PIPELINE_HEARTBEAT_ENTITY") or None,
            entry_id=os.environ.get("SYNC_PIPELINE_HEARTBEAT_ENTRY") or None,
            client_id=os.environ.get("SYNC_PIPELINE_HEARTBEAT_CLIENT") or None,
            deadline_seconds=int(os.environ.get("SYNC_PIPELINE_HEARTBEAT_DEADLINE", "900")),
        ),
        "slo": slo_resource(),
    }
