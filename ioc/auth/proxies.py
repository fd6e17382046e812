"""The client's address behind reverse proxies (``trusted_proxies``).

``X-Forwarded-For`` is written by whoever sends the request, so only the hops the operator trusts
may be read from it. The setting has two forms:

- a number N: exactly N proxies stand in front of the app; the client is the N-th address from
  the right of ``X-Forwarded-For`` (what werkzeug's ProxyFix does with ``x_for=N``);
- addresses or networks (``10.0.0.5, 192.168.0.0/16, ::1``): the request's peer must be one of
  them for the header to count; then the client is the rightmost address of the header that is not
  itself trusted (each trusted proxy appended the address it saw).

Empty (the default): the peer's address is the client; the header is ignored.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    count: int = 0
    networks: tuple[Network, ...] = ()

    def trusts(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in self.networks)


@lru_cache(maxsize=8)
def parse(text: str) -> TrustedProxies:
    """The setting's value; a clear ValueError naming the setting and the bad entry otherwise."""
    text = text.strip()
    if not text:
        return TrustedProxies()
    if text.isdigit():
        return TrustedProxies(count=int(text))
    networks = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"IOC_TRUSTED_PROXIES: {entry!r} is neither an address nor a network; expected a number "
                "of proxies (e.g. 1) or addresses/networks separated by commas (e.g. 10.0.0.5, 10.1.0.0/16)"
            ) from None
    return TrustedProxies(networks=tuple(networks))


def client_address(peer: str, forwarded_for: str | None, trusted: TrustedProxies) -> str:
    """The client's address of a request from ``peer`` carrying ``X-Forwarded-For: forwarded_for``."""
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    if trusted.count:
        # fewer hops than proxies: the header is not what the proxies wrote; trust none of it
        found = hops[-trusted.count] if len(hops) >= trusted.count else peer
    elif not trusted.networks or not trusted.trusts(peer):
        found = peer
    else:
        found = next((hop for hop in reversed(hops) if not trusted.trusts(hop)), hops[0] if hops else peer)
    return found if _is_address(found) else peer


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
