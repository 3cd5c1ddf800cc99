"""Helpers for the workbench's browser tests (Playwright pages against a served workbench)."""

from __future__ import annotations


def login(page, url: str, user: str, password: str, *, lands_on: str = "/exceptions") -> None:
    page.goto(f"{url}/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_url(f"{url}{lands_on}")
