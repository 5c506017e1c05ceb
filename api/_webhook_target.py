"""Where a webhook may go: never to the delivery host's own networks (SSRF), unless the install allows it.

An owner's ``webhook_url`` is typed by a vet; the delivery worker POSTs to it from inside the clinic's network. Two
checks keep it from reaching loopback, link-local (the 169.254.169.254 metadata service), private (RFC 1918),
shared (100.64/10), unique-local IPv6 and other non-public addresses:

- **when it is set** (:func:`url_problem`, by the API): an ``http``/``https`` URL with a host and no
  ``user:password@``, whose host, when it is an IP literal, is public. A host *name* is accepted: what it resolves to
  can change at any time, so the name is checked where it counts:
- **when it is used** (:class:`GuardedBackend`, the network backend of the worker's HTTP client): every connection
  resolves the host itself, refuses it (:class:`BlockedAddress`) if **any** address it resolves to is non-public,
  and connects to an address it has just checked. TLS still verifies the certificate against the URL's host name. A
  name that resolves to a public address at one moment and to 127.0.0.1 the next (DNS rebinding) gets no connection
  to 127.0.0.1. Redirects are never followed (``follow_redirects=False``) and proxies from the environment are not
  used (``trust_env=False``), so the checked address is the one connected to.

``VIGIE_WEBHOOK_ALLOW_PRIVATE=true`` lifts the address checks (not the scheme and credentials ones): for on-premises
receivers on the clinic's own network, and for the tests' receivers on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_HINT = "VIGIE_WEBHOOK_ALLOW_PRIVATE allows it on an on-premises install"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # NAT64 well-known prefix: the IPv4 address is the last 32 bits
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT


class BlockedAddress(Exception):  # noqa: N818 - a refusal, not a failure of the code
    """A webhook's host is or resolves to a non-public address: a permanent refusal, never a retry."""


def _embedded(ip: Address) -> Address:
    """The IPv4 address an IPv6 one stands for (mapped, 6to4, NAT64), else ``ip`` itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def non_public(ip: Address) -> str | None:
    """What kind of non-public address ``ip`` is (``"loopback"``, ``"private"``, …), None for a public one."""
    inner = _embedded(ip)
    for addr in (inner, ip) if inner is not ip else (ip,):  # the IPv4 address it stands for says more
        if addr.is_loopback:
            return "loopback"
        if addr.is_link_local:
            return "link-local"
        if addr.is_unspecified:
            return "unspecified"
        if addr.is_multicast:
            return "multicast"
        if isinstance(addr, ipaddress.IPv6Address) and addr in ipaddress.IPv6Network("fc00::/7"):
            return "unique-local"
        if isinstance(addr, ipaddress.IPv4Address) and addr in _SHARED:
            return "shared (carrier-grade NAT)"
        if addr.is_private:
            return "private"
        if not addr.is_global:
            return "not globally routable"
    return None


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why ``url`` may not be a webhook (a sentence), None if it may. Names are not resolved here."""
    try:
        parts = urlsplit(url)
        port = parts.port  # a port out of range raises ValueError
    except ValueError as exc:
        return f"not a valid URL ({exc})"
    del port
    if parts.scheme.lower() not in {"http", "https"}:
        return "only http:// and https:// URLs are allowed"
    if "@" in parts.netloc:
        return "a webhook URL may not carry credentials (user:password@)"
    host = parts.hostname
    if not host:
        return "the URL has no host"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None  # a host name: checked when it is resolved, at each delivery
    kind = non_public(ip)
    if kind is not None and not allow_private:
        return f"the host {host} is a {kind} address, not a public one ({ALLOW_HINT})"
    return None


def _check(host: str, addresses: Iterable[Address]) -> None:
    for ip in addresses:
        kind = non_public(ip)
        if kind is not None:
            raise BlockedAddress(
                f"webhook refused: {host} resolves to {ip}, a {kind} address, not a public one ({ALLOW_HINT})"
            )


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, but a TCP connection goes only to an address checked public just before.

    The host is resolved here (all its addresses: one non-public address refuses the host), and the connection is
    opened to the checked addresses themselves, so nothing resolves the name again in between. With
    ``allow_private`` nothing is refused, but the connection still goes to the addresses resolved here.
    """

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int) -> list[Address]:
        """Every address of ``host`` (an IP literal is its own); ``OSError`` when it cannot be resolved."""
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout:g} s") from None
        except OSError as exc:  # socket.gaierror: unknown name, DNS down (retried)
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        if not self.allow_private:
            _check(host, addresses)
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        error: Exception | None = None
        for ip in addresses:  # each of them checked above
            try:
                return await self._inner.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None  # noqa: S101 - at least one address was tried
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("webhook refused: Unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport whose connections go through ``backend`` (httpx has no parameter for a network backend:
    its connection pool is replaced by one built with the backend and httpx's default limits)."""

    def __init__(self, backend: GuardedBackend) -> None:
        super().__init__()
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=backend,
        )


def guarded_client(*, allow_private: bool, timeout: float, backend: GuardedBackend | None = None) -> httpx.AsyncClient:
    """The delivery worker's HTTP client: guarded connections, no redirect, no proxy or ``.netrc`` from the
    environment (the connection must go to the address checked)."""
    return httpx.AsyncClient(
        transport=GuardedTransport(backend or GuardedBackend(allow_private=allow_private)),
        follow_redirects=False,
        trust_env=False,
        timeout=timeout,
    )
