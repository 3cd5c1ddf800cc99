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
