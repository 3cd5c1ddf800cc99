"""The code location: every asset, check, job, sensor, schedule and resource, merged in one place.

Each domain folder under ``sync_pipeline/defs/`` (extract, billing, posting, reconciliation, ...)
may contribute ``assets.py``, ``checks.py``, ``jobs.py``, ``sensors.py`` and ``schedules.py``;
this module imports them and collects their definitions, so a new domain is a new folder.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from dagster import (
    AssetChecksDefinition,
    AssetsDefinition,
    Definitions,
    JobDefinition,
    ScheduleDefinition,
    SensorDefinition,
)
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

import sync_pipeline.defs as defs_pkg
from sync_pipeline.defs.console_log import console_loggers
from sync_pipeline.defs.executors import executor_from_env
from sync_pipeline.defs.resources import default_resources
from sync_pipeline.defs.settings import load_secret_files
from sync_pipeline.store.files import restrict_umask

CONTRIBUTING_MODULES = ("assets", "checks", "jobs", "sensors", "schedules")


def domain_modules() -> list[ModuleType]:
    mods: list[ModuleType] = []
    for info in sorted(pkgutil.iter_modules(defs_pkg.__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue
        for part in CONTRIBUTING_MODULES:
            name = f"{defs_pkg.__name__}.{info.name}.{part}"
            try:
                mods.append(importlib.import_module(name))
            except ModuleNotFoundError as e:
                if e.name != name:
                    raise
    return mods


def _collect(mods: list[ModuleType]) -> dict[str, list]:
    out: dict[str, list] = {"assets": [], "asset_checks": [], "jobs": [], "sensors": [], "schedules": []}
    seen: set[int] = set()
    for mod in mods:
        for value in vars(mod).values():
            if id(value) in seen:
                continue
            if isinstance(value, AssetChecksDefinition):
                out["asset_checks"].append(value)
            elif isinstance(value, AssetsDefinition):
                out["assets"].append(value)
            elif isinstance(value, (JobDefinition, UnresolvedAssetJobDefinition)):
                out["jobs"].append(value)
            elif isinstance(value, SensorDefinition):
                out["sensors"].append(value)
            elif isinstance(value, ScheduleDefinition):
                out["schedules"].append(value)
            else:
                continue
            seen.add(id(value))
    return out


def build_defs(resources: dict[str, object] | None = None) -> Definitions:
    """The definitions with the given resources (tests pass sandbox-bound ones)."""
    # a definition imported into another module (for lineage) is the same object: collected once
    collected = _collect(domain_modules())
    return Definitions(**collected, resources=resources if resources is not None else default_resources(),
                       executor=executor_from_env(), loggers=console_loggers())


# every process that loads the code location (webserver, daemon, each run worker) writes private files and
# reads its credentials from NAME_FILE / SYNC_PIPELINE_SECRETS_DIR when not in the environment
restrict_umask()
load_secret_files()
defs = build_defs()
