"""Transport rules for every outbound call: plain HTTP only to this machine.

A token or a client secret sent over ``http://`` to another host travels in clear, so every URL a
connector calls (API base URLs, OAuth token URLs, absolute URLs of single requests) must be ``https://``
unless its host is this machine (``localhost``, ``*.localhost``, ``127.0.0.0/8``, ``::1``: the local
sandboxes). :class:`~sync_pipeline.connectors.http.HttpClient` checks each request it sends.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


class InsecureTransport(ValueError):
    """A URL that would send credentials in clear (plain HTTP to another machine, or no scheme at all)."""


def is_local_host(host: str | None) -> bool:
    """True for names and addresses of this machine only."""
    if not host:
        return False
    h = host.strip("[]").lower().rstrip(".")
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def require_secure(url: str, what: str = "URL") -> str:
    """``url`` unchanged when it is https, or http to this machine; :class:`InsecureTransport` otherwise."""
    parts = urlsplit(str(url))
    scheme = parts.scheme.lower()
    if scheme == "https" and parts.hostname:
        return url
    if scheme == "http" and is_local_host(parts.hostname):
        return url
    shown = f"{scheme}://{parts.hostname or ''}{parts.path or ''}" if scheme else repr(str(url)[:80])
    if scheme == "http":
        raise InsecureTransport(f"{what} {shown} is plain HTTP to another machine: credentials would travel in "
                                f"clear. Use https:// (plain http is allowed only to localhost / 127.0.0.1, "
                                f"the local sandboxes)")
    raise InsecureTransport(f"{what} {shown} is not an https:// URL with a host: set it to the system's https "
                            f"address")
