"""Secrets never reach Dagster's event log.

Resources holding credentials call :func:`protect` from ``setup_for_execution``: their secret values
are registered with ``connectors.redaction`` (so the literal value is masked wherever it appears, not
only in the shapes the patterns know), and the redacting filter is installed on the run's log manager
and on the handlers that write the event log. Those handlers are shared by every step log manager of
the run (``DagsterLogManager.with_tags`` copies keep the same handler list), so messages logged through
``context.log`` anywhere in the run, and captured Python loggers, are masked before they are stored.
Exception messages of our connectors redact themselves (``connectors.http.HttpError``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sync_pipeline.connectors import redaction


def install_on_log_manager(log: logging.Logger | None) -> None:
    if log is None:
        return
    redaction.install(log)
    for handler in list(getattr(log, "handlers", [])):
        redaction.install(handler)
        # DagsterLogHandler fans out to the instance's handlers (the event log writer among them).
        # Its list is not public API; guard so a Dagster upgrade degrades to the public part above.
        for downstream in list(getattr(handler, "_handlers", []) or []):
            if isinstance(downstream, logging.Handler):
                redaction.install(downstream)


def protect(log: logging.Logger | None, secrets: Iterable[str | None]) -> None:
    for s in secrets:
        redaction.register_secret(s)
    install_on_log_manager(log)
    redaction.install(logging.getLogger("dagster"))
