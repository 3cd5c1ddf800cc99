"""What loading the code location costs: every run worker imports it before its first step, so libraries that
only some code paths need are imported where they are used, and no payload schema is built at import."""

from __future__ import annotations

import json
import subprocess
import sys

# imported by the functions that use them, never by loading the code location
NOT_AT_IMPORT = (
    "opentelemetry",  # the OpenTelemetry SDK: only the span-export sensors use it
    "sqlalchemy.dialects.postgresql",  # a SQLite store never needs PostgreSQL's dialect
    "psycopg2",
)
PROBE = """
import json, sys
import sync_pipeline.defs.definitions as d
from sync_pipeline.contracts.payloads import accounting, source
from pydantic import BaseModel
built = sorted(name for mod in (accounting, source) for name, v in vars(mod).items()
               if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == mod.__name__
               and v.__pydantic_complete__)
names = %r
print(json.dumps({"modules": sorted(m for m in sys.modules if any(m == n or m.startswith(n + ".") for n in names)),
                  "built": built, "jobs": len(d.defs.jobs or [])}))
"""


def test_loading_the_code_location_imports_no_library_only_some_paths_use_and_builds_no_payload_schema():
    out = subprocess.run([sys.executable, "-c", PROBE % (list(NOT_AT_IMPORT),)], capture_output=True, text=True,
                         check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["jobs"] > 0  # the code location did load
    assert found["modules"] == []
    assert found["built"] == []  # payload validators are built on first use (defer_build)
