"""The browser fixture must not outlive its module: Playwright's sync API keeps an asyncio loop running on the
main thread while it is open, so a later test on the same pytest-xdist worker that calls ``asyncio.run`` (Dagster's
GraphQL test client does) fails with "asyncio.run() cannot be called from a running event loop"."""

from __future__ import annotations


def test_the_browser_closes_with_its_module_so_later_tests_can_run_asyncio(request):
    (fixture,) = request._fixturemanager.getfixturedefs("browser", request.node)
    assert fixture.scope == "module"
