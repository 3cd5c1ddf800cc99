"""The workbench's browser tests share the headless Chromium of the reconciliation tests."""

from sync_pipeline_tests.reconciliation.conftest import browser, chromium_path  # noqa: F401  (fixtures)
