"""Byte formats of the small services (RFC 862-868, FreeBSD's flavour) and the UDP loop guard.

Owns the exact bytes each built-in produces, the chargen rotation kept across datagrams, and
the decision to drop a datagram whose source could start a packet storm. Pure and
synchronous: it must not touch sockets, the event loop or the clock except through `now`.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from collections.abc import Iterable

STREAM_BUILTINS: frozenset[str] = frozenset({"echo", "discard", "chargen", "daytime", "time"})
DGRAM_BUILTINS: frozenset[str] = frozenset({"echo", "discard", "chargen", "daytime", "time"})

TCPMUX_GO = b"+Go\r\n"
TCPMUX_UNAVAILABLE = b"-Service not available\r\n"

# The printable ASCII ring ' '..'~'; each chargen line is 72 of them, starting one later
# than the line before, as FreeBSD and RFC 864's example do.
CHARGEN_RING = bytes(range(0x20, 0x7F))
CHARGEN_LINE_CHARS = 72
CHARGEN_LINE_LEN = CHARGEN_LINE_CHARS + 2


def chargen_line(index: int) -> bytes:
    """Line number `index` (0-based) of the chargen stream: 72 ring characters and CRLF."""
    start = index % len(CHARGEN_RING)
    doubled = CHARGEN_RING + CHARGEN_RING
    return doubled[start : start + CHARGEN_LINE_CHARS] + b"\r\n"


CHARGEN_LINES: tuple[bytes, ...] = tuple(chargen_line(i) for i in range(len(CHARGEN_RING)))
# After 95 lines the ring is back at its start, so one full period repeated forever is the
# whole stream; sending it in one piece keeps the per-write overhead negligible.
CHARGEN_PERIOD: bytes = b"".join(CHARGEN_LINES)

# RFC 868 counts from 1900-01-01; the Unix epoch is 70 years (17 of them leap) later.
RFC868_OFFSET = 2208988800


def daytime_bytes(now: float | None = None) -> bytes:
    """The 26-byte daytime reply: ctime(3) of local time cut to 24 characters, then CRLF.

    FreeBSD prints `%.24s`, so a five-digit year would still give 26 bytes; so do we.
    """
    stamp = time.ctime(time.time() if now is None else now)[:24]
    return stamp.encode("ascii") + b"\r\n"


def time_bytes(now: float | None = None) -> bytes:
    """The 4-byte big-endian RFC 868 time; it wraps in 2036 exactly as the C inetds do."""
    seconds = int(time.time() if now is None else now) + RFC868_OFFSET
    return struct.pack("!I", seconds % 2**32)


def tcpmux_help(names: Iterable[str]) -> bytes:
    """The reply to TCPMUX `HELP`: each configured name on its own CRLF-terminated line."""
    return b"".join(name.encode("utf-8") + b"\r\n" for name in names)


class DatagramBuiltins:
    """Answers for UDP (and UNIX datagram) built-ins; one instance per daemon.

    The chargen position is daemon state, not per-client: FreeBSD answers datagrams in the
    parent with a static pointer, so consecutive requests from anyone see the ring advance.
    """

    def __init__(self) -> None:
        self._chargen_index = 0

    def reply(self, name: str, data: bytes, now: float | None = None) -> bytes | None:
        """The datagram to send back for `name`, or None when nothing is to be sent."""
        if name == "echo":
            return data
        if name == "discard":
            return None
        if name == "chargen":
            line = CHARGEN_LINES[self._chargen_index]
            self._chargen_index = (self._chargen_index + 1) % len(CHARGEN_LINES)
            return line
        if name == "daytime":
            return daytime_bytes(now)
        if name == "time":
            return time_bytes(now)
        raise ValueError(f"no datagram built-in named {name!r}")


_LIMITED_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def _bad_ipv4_source(addr: ipaddress.IPv4Address) -> bool:
    # 0.0.0.0/8 means "this host on this network" and is never a valid source to answer;
    # x.x.x.255 is not treated as broadcast because with classless subnets it is often a
    # perfectly ordinary host, and only the interface list could tell (OpenBSD asks it).
    return addr.is_multicast or addr == _LIMITED_BROADCAST or addr.packed[0] == 0


def is_loop_source(peer_host: str, peer_port: int, internal_dgram_ports: frozenset[int]) -> bool:
    """True when a datagram for a UDP built-in must be dropped without an answer.

    FreeBSD's rule: the source port is one of our own internal datagram services, so
    answering would let two small services (ours or another host's) ping-pong forever.
    OpenBSD's rule: the source address cannot be a real single sender (multicast, limited
    broadcast, unspecified, 0/8, or an IPv4-mapped IPv6 form of those, which a dual-stack
    socket reports). Source port 0 is dropped too: no reply can be addressed to it.
    A peer that is not an IP address (a UNIX datagram path) is only checked by port.
    """
    if peer_port in internal_dgram_ports:
        return True
    try:
        addr = ipaddress.ip_address(peer_host.partition("%")[0])
    except ValueError:
        return False
    if peer_port == 0:
        return True
    if isinstance(addr, ipaddress.IPv4Address):
        return _bad_ipv4_source(addr)
    if addr.ipv4_mapped is not None:
        return _bad_ipv4_source(addr.ipv4_mapped)
    return addr.is_multicast or addr.is_unspecified
