"""Where things live on disk by default (project-local), overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    return Path(os.environ.get("SYNC_PIPELINE_DATA_DIR", PROJECT_ROOT / "data"))


def warehouse_root() -> str:
    return os.environ.get("SYNC_PIPELINE_WAREHOUSE", str(data_dir() / "warehouse"))


def operational_store_url() -> str:
    return os.environ.get("SYNC_PIPELINE_STORE_URL", f"sqlite:///{data_dir() / 'operational.sqlite3'}")


def mapping_path() -> str:
    return os.environ.get("SYNC_PIPELINE_MAPPING", str(PROJECT_ROOT / "docs" / "mapping.example.yaml"))


def finance_config_path() -> str:
    return os.environ.get("SYNC_PIPELINE_FINANCE", str(PROJECT_ROOT / "docs" / "finance.example.yaml"))


def reconciliation_config_path() -> str:
    return os.environ.get("SYNC_PIPELINE_RECONCILIATION", str(PROJECT_ROOT / "docs" / "reconciliation.example.yaml"))


def retention_config_path() -> str:
    return os.environ.get("SYNC_PIPELINE_RETENTION", str(PROJECT_ROOT / "docs" / "retention.example.yaml"))


def slo_config_path() -> str:
    return os.environ.get("SYNC_PIPELINE_SLO", str(PROJECT_ROOT / "docs" / "slo.example.yaml"))


def archive_root() -> Path:
    """Where ``sync-pipeline archive create`` writes closed periods (``SYNC_PIPELINE_ARCHIVE``)."""
    return Path(os.environ.get("SYNC_PIPELINE_ARCHIVE", data_dir() / "archive"))


def shared_dir() -> Path:
    """The blueprint's shared folder (Xero OpenAPI spec, Redmine tools); not part of the project.

    ``../shared`` next to the checkout by default; set ``SYNC_PIPELINE_SHARED_DIR`` elsewhere.
    Code that needs it must work (or skip with a clear reason) when it is absent.
    """
    return Path(os.environ.get("SYNC_PIPELINE_SHARED_DIR", PROJECT_ROOT.parent / "shared"))


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", PROJECT_ROOT / ".dagster_home"))


HARVEST_DEFAULT_URL = "http://127.0.0.1:8710"
XERO_DEFAULT_URL = "http://127.0.0.1:8720"

#: SYNC_PIPELINE_MODE values in which an unset API URL means the local sandbox (never in production)
SANDBOX_MODES = ("sandbox", "demo", "test")


class MissingSetting(LookupError):
    """A setting the command needs is not set (and there is no safe default outside sandbox mode)."""


def mode() -> str:
    """``production`` (the default), or ``sandbox`` / ``demo`` / ``test`` (``SYNC_PIPELINE_MODE``)."""
    return os.environ.get("SYNC_PIPELINE_MODE", "production").strip().lower() or "production"


def sandbox_mode() -> bool:
    return mode() in SANDBOX_MODES


def api_base_url(var: str, sandbox_default: str | None = None, *, required: bool = True) -> str:
    """The API base URL in ``$var``; in sandbox mode (``SYNC_PIPELINE_MODE=sandbox|demo|test``) the local
    sandbox's address when unset. Outside sandbox mode an unset URL is :class:`MissingSetting` (``required``)
    or ``""`` (the resource then refuses when first used), never a silent fallback to the sandbox."""
    value = os.environ.get(var, "").strip()
    if value:
        return value
    if sandbox_default and sandbox_mode():
        return sandbox_default
    if required:
        raise MissingSetting(missing_url_message(var, sandbox_default))
    return ""


def missing_url_message(var: str, sandbox_default: str | None = None) -> str:
    sandbox = (f", or SYNC_PIPELINE_MODE=sandbox to use the local sandbox at {sandbox_default}"
               if sandbox_default else "")
    return f"{var} is not set: set it to the system's https:// API address{sandbox}"


#: credentials read from the environment; each may instead come from a file (``NAME_FILE``) or from a
#: secrets folder (``SYNC_PIPELINE_SECRETS_DIR/NAME``), see :func:`load_secret_files`
SECRET_NAMES = ("HARVEST_ACCESS_TOKEN", "XERO_CLIENT_ID", "XERO_CLIENT_SECRET", "REDMINE_API_KEY",
                "XERO_WEBHOOK_KEY", "XERO_WEBHOOK_KEY_PREVIOUS", "SYNC_PIPELINE_TOKEN", "QBO_CLIENT_ID",
                "QBO_CLIENT_SECRET")


def load_secret_files(environ: dict[str, str] | None = None, names: tuple[str, ...] = SECRET_NAMES) -> list[str]:
    """Fill unset credentials from files: ``$NAME_FILE`` (a path), else ``$SYNC_PIPELINE_SECRETS_DIR/NAME``
    (a mounted secrets volume: Docker secrets, a Kubernetes Secret, a vault agent's output). A variable
    already set wins. Read at every process start (each Dagster run, each CLI call), so replacing the file
    rotates the secret for everything started afterwards. Returns the names it filled (never the values)."""
    env = os.environ if environ is None else environ
    folder = env.get("SYNC_PIPELINE_SECRETS_DIR", "")
    filled = []
    for name in names:
        if env.get(name):
            continue
        path = env.get(f"{name}_FILE") or (str(Path(folder) / name) if folder else "")
        if not path or not Path(path).is_file():
            if env.get(f"{name}_FILE"):
                raise MissingSetting(f"{name}_FILE points to {path}, which is not a readable file")
            continue
        value = Path(path).read_text(encoding="utf-8").strip()
        if value:
            env[name] = value
            filled.append(name)
    return filled
