"""What a URL fetch (``service.infra.fetch``) may do: its limits, and the rule for which
addresses it may connect to.

Only public unicast addresses, also when an IPv6 address embeds an IPv4 one (IPv4-mapped,
NAT64, 6to4, Teredo); the operator's allow-list (``url_fetch.allowed_hosts``) opens named
internal hosts and networks, and the loopback test hook opens loopback.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from clearcutout.config import Settings
from clearcutout.service.infra.records import record_from

__all__ = ["FetchLimits", "IPAddress", "address_is_public", "limits_from"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Networks refused beyond what ``ipaddress`` calls private/reserved/…: carrier-grade NAT
# (RFC 6598; Alibaba's metadata service lives there) and IPv6 site-local (deprecated,
# RFC 3879, still routed inside some networks).
_EXTRA_BLOCKED: Final = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("fec0::/10"),
)
_LOOPBACK: Final = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64: Final = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


@dataclass(frozen=True)
class FetchLimits:
    """How much and how long a download may take, and the loopback test hook."""

    max_bytes: int
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 10.0
    total_timeout_s: float = 30.0
    max_redirects: int = 5
    allow_loopback: bool = False
    max_concurrent: int = 8
    #: The operator's allow-list: host names (``*.`` for any name under one) and networks.
    allowed_names: tuple[str, ...] = ()
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    def host_is_allowed(self, host: str) -> bool:
        """Whether the operator listed ``host`` (a name) for fetching."""
        name = host.lower().rstrip(".")
        for allowed in self.allowed_names:
            if allowed.startswith("*."):
                if name.endswith(allowed[1:]):
                    return True
            elif name == allowed:
                return True
        return False

    def address_is_allowed(self, address: IPAddress) -> bool:
        """Whether ``address`` lies in a network (or is an address) the operator listed."""
        return any(
            address.version == network.version and address in network
            for network in self.allowed_networks
        )


def limits_from(settings: Settings) -> FetchLimits:
    """The limits configured in ``settings.url_fetch`` and ``max_upload_mb``."""
    fetch = settings.url_fetch
    names: list[str] = []
    networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for entry in fetch.allowed_hosts:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.append(entry)
    return record_from(
        FetchLimits,
        fetch,
        allowed_names=tuple(names),
        allowed_networks=tuple(networks),
        max_bytes=int(settings.max_upload_mb * 1024 * 1024),
    )


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the embedding forms."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # the client's (obfuscated-decoded) address
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_is_public(address: IPAddress, *, allow_loopback: bool = False) -> bool:
    """Whether we may connect to ``address``: public unicast only (see the module text)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_is_public(embedded, allow_loopback=allow_loopback)
    if allow_loopback and any(address in network for network in _LOOPBACK):
        return True
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
        or any(address.version == net.version and address in net for net in _EXTRA_BLOCKED)
    )
