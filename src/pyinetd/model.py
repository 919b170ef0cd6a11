"""The one immutable model every config grammar produces.

Frozen values only: runtime counters, sockets and children live in the shell (core.py),
never here. This module must not import asyncio, socket I/O or anything above it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pyinetd.errors import ConfigError, ConfigNote


class SocketType(enum.Enum):
    STREAM = "stream"
    DGRAM = "dgram"
    RAW = "raw"
    RDM = "rdm"
    SEQPACKET = "seqpacket"


class Family(enum.Enum):
    INET = "inet"
    INET6 = "inet6"
    DUAL = "dual"  # one AF_INET6 socket with IPV6_V6ONLY off (tcp46/udp46)
    UNIX = "unix"


class Protocol(enum.Enum):
    TCP = "tcp"
    UDP = "udp"
    UNIX = "unix"
    RPC_TCP = "rpc/tcp"
    RPC_UDP = "rpc/udp"


BUILTIN_NAMES = ("echo", "discard", "chargen", "daytime", "time", "tcpmux")
WILDCARD = "*"


@dataclass(frozen=True, order=True)
class Origin:
    """Where an entry was written: file path and 1-based line number."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class ListenAddress:
    """One endpoint a service listens on.

    `host` is a numeric address or `*` (the wildcard, or the `-a` address at bind time);
    None for UNIX sockets. `port` 0 asks the kernel for a free port (tests use it).
    `owner`, `group`, `mode` are the UNIX socket file's, None meaning the defaults.
    """

    family: Family
    host: str | None = None
    port: int | None = None
    path: str | None = None
    owner: str | None = None
    group: str | None = None
    mode: int | None = None

    def __str__(self) -> str:
        if self.family is Family.UNIX:
            return str(self.path)
        host = self.host or WILDCARD
        if ":" in host:
            host = f"[{host}]"
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Program:
    """An external server: absolute path and the argv it receives (argv[0] included)."""

    path: str
    argv: tuple[str, ...]


@dataclass(frozen=True)
class Builtin:
    """An in-process service by name, with the arguments written after `internal`."""

    name: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """Per-service limits as written; None means "not set here, use the global default".

    `max_child` and the two per-IP limits are FreeBSD's `wait/N/N/N` concurrency controls;
    `max_per_minute` is the OpenBSD/GNU/netkit `.N` (NetBSD `:N`) invocation rate. They
    are different controls and are kept apart.
    """

    max_child: int | None = None
    max_conn_per_ip_per_minute: int | None = None
    max_child_per_ip: int | None = None
    max_per_minute: int | None = None


@dataclass(frozen=True)
class Rpc:
    name: str
    low: int
    high: int


@dataclass(frozen=True)
class Tcpmux:
    """A `tcpmux/name` entry; `plus` means pyinetd sends `+Go` itself (`tcpmux/+name`)."""

    name: str
    plus: bool


@dataclass(frozen=True)
class Service:
    """One normalised service entry.

    `listen` is None only for `tcpmux/` entries, which are reached through the tcpmux
    builtin rather than a socket of their own. Exactly one of `program` and `builtin` is set.
    """

    origin: Origin
    service: str  # the service field as written (without any host prefix)
    listen: ListenAddress | None
    socket_type: SocketType
    protocol: Protocol
    proto_name: str  # the protocol as written, less buffer options: "tcp6", "rpc/udp"
    wait: bool
    user: str
    group: str | None = None
    login_class: str | None = None
    program: Program | None = None
    builtin: Builtin | None = None
    limits: Limits = field(default_factory=Limits)
    sndbuf: int | None = None
    rcvbuf: int | None = None
    rpc: Rpc | None = None
    tcpmux: Tcpmux | None = None

    @property
    def label(self) -> str:
        """`echo/tcp`, or `127.0.0.1:echo/tcp` when bound to one address."""
        base = f"{self.service}/{self.proto_name}"
        if self.listen is not None and self.listen.host not in (None, WILDCARD):
            host = self.listen.host
            return f"[{host}]:{base}" if ":" in host else f"{host}:{base}"
        return base

    @property
    def key(self) -> tuple[object, ...]:
        """Reload identity: services with equal keys keep their socket across a reload.

        Everything that decides what socket is bound is in the key; everything that only
        decides what runs on a connection (user, program, limits) is not.
        """
        if self.tcpmux is not None:
            return ("tcpmux", self.tcpmux.name.lower())
        assert self.listen is not None
        # Port 0 entries each get a port of the kernel's choosing: nothing but their place
        # in the file tells two of them apart.
        where = (self.origin.file, self.origin.line) if self.listen.port == 0 else None
        return (
            where,
            self.listen,
            self.socket_type,
            self.protocol,
            self.sndbuf,
            self.rcvbuf,
            self.rpc,
        )

    @property
    def endpoint(self) -> tuple[object, ...] | None:
        """What two services may not share: address, port (or path) and protocol."""
        if self.listen is None:
            return None
        lst = self.listen
        if lst.family is Family.UNIX:
            return ("unix", lst.path)
        transport = "udp" if self.protocol in (Protocol.UDP, Protocol.RPC_UDP) else "tcp"
        return (lst.family, lst.host, lst.port, transport)


@dataclass(frozen=True)
class Config:
    """The result of loading one or more files: good services, errors and notes."""

    services: tuple[Service, ...] = ()
    errors: tuple[ConfigError, ...] = ()
    notes: tuple[ConfigNote, ...] = ()
    files: tuple[str, ...] = ()
