"""Structured (JSON-lines) logging for the connectors' records.

Every HTTP attempt is logged by ``sync_pipeline.http`` with structured fields (``system``, ``method``,
``url``, ``status``, ``ms``, ``request_id``, ``attempt``, ``error``); the limiter and breaker add
``wait_seconds`` and ``circuit_state``. :class:`JsonFormatter` writes them as one JSON object per line,
after redaction, for log shippers; :func:`enable_json_logs` wires it to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from sync_pipeline.connectors import redaction

FIELDS = ("system", "method", "url", "status", "ms", "request_id", "attempt", "error", "wait_seconds",
          "circuit_state")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname, "logger": record.name, "msg": redaction.redact(record.getMessage())}
        for f in FIELDS:
            if f in record.__dict__:
                v = record.__dict__[f]
                out[f] = redaction.redact(v) if isinstance(v, str) else v
        if record.exc_info:
            out["exc"] = redaction.redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


def enable_json_logs(level: int = logging.INFO, stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    redaction.install(handler)
    root = logging.getLogger("sync_pipeline")
    root.addHandler(handler)
    root.setLevel(level)
    return handler
