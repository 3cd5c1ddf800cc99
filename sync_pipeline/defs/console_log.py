"""How much of a run's event log reaches the terminal: ``SYNC_PIPELINE_EVENT_LOG`` (default ``debug``, every line).

``make dev`` sets it to ``warning`` so the terminal shows only what needs attention; every event is still stored
in the instance and shown in the UI's run view. ``make dev EVENT_LOG=info`` (or ``debug``) brings the lines back.
A run can still choose its own level in its run config (``loggers: console: config: log_level: ...``).
"""

from __future__ import annotations

import os

from dagster import Field, LoggerDefinition
from dagster._loggers import colored_console_logger

LEVELS = ("critical", "error", "warning", "info", "debug")


def event_log_level() -> str:
    level = os.environ.get("SYNC_PIPELINE_EVENT_LOG", "debug").strip().lower() or "debug"
    if level not in LEVELS:
        raise ValueError(f"SYNC_PIPELINE_EVENT_LOG={level!r}: use one of {', '.join(LEVELS)}")
    return level


def console_loggers() -> dict[str, LoggerDefinition]:
    """Dagster's coloured console logger, its default level taken from the environment."""
    return {"console": LoggerDefinition(
        colored_console_logger.logger_fn,
        config_schema={"log_level": Field(str, is_required=False, default_value=event_log_level().upper()),
                       "name": Field(str, is_required=False, default_value="dagster")},
        description="The run's events on the terminal, from SYNC_PIPELINE_EVENT_LOG (default debug).")}
