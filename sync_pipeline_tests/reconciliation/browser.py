"""Helpers for the workbench's tests: sign in with a browser page, or with a plain HTTP client as a browser would.

A plain client does what the browser does for it: it sends the page's ``Origin`` on a POST, carries the
``Secure`` cookies the workbench sets (a cookie jar keeps those for https only, so the helper passes them
itself) and posts the form's CSRF token.
"""

from __future__ import annotations

import re

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def login(page, url: str, user: str, password: str, *, lands_on: str = "/exceptions") -> None:
    page.goto(f"{url}/login")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#sign-in")
    page.wait_for_url(f"{url}{lands_on}")


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has a form with a CSRF token"
    return found.group(1)


class Client:
    """An HTTP client signed in to the workbench at ``url`` (or not yet: ``sign_in``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, follow_redirects=False, headers={"origin": url})
        self.cookies: dict[str, str] = {}

    def _keep(self, r: httpx.Response) -> httpx.Response:
        for header in r.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower() or 'expires=thu, 01 jan 1970' in header.lower() or value in ('""', ""):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return r

    def _cookie_header(self) -> dict[str, str]:
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def get(self, path: str, **kw) -> httpx.Response:
        return self._keep(self.http.get(path, headers={**self._cookie_header(), **kw.pop("headers", {})}, **kw))

    def post(self, path: str, data: dict | None = None, *, csrf_from: str | None = None, **kw) -> httpx.Response:
        """POST a form; with ``csrf_from`` (a page path) the form carries that page's CSRF token."""
        data = dict(data or {})
        if csrf_from is not None:
            data["csrf"] = csrf_of(self.get(csrf_from).text)
        return self._keep(self.http.post(path, data=data, headers={**self._cookie_header(), **kw.pop("headers", {})},
                                         **kw))

    def sign_in(self, user: str, password: str) -> httpx.Response:
        return self.post("/login", {"username": user, "password": password}, csrf_from="/login")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
