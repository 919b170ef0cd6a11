"""Creating listening sockets for services: TCP and UDP over IPv4, IPv6 and dual stack,
UNIX stream and datagram sockets.

It binds and configures; it never accepts or reads (the supervisor does that on its loop).
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import pwd
import socket
import stat
from dataclasses import dataclass

from pyinetd.errors import BindError
from pyinetd.model import WILDCARD, Family, Service, SocketType

# Linux caps the backlog at net.core.somaxconn; asking for more gets the kernel maximum,
# as FreeBSD's listen(fd, -1) does.
BACKLOG = 65535

# FreeBSD's default for UNIX sockets: writable (so connectable) by the owner only.
DEFAULT_UNIX_MODE = 0o200

_SOCKET_TYPES = {
    SocketType.STREAM: socket.SOCK_STREAM,
    SocketType.DGRAM: socket.SOCK_DGRAM,
    SocketType.RAW: socket.SOCK_RAW,
    SocketType.RDM: socket.SOCK_RDM,
    SocketType.SEQPACKET: socket.SOCK_SEQPACKET,
}


@dataclass(frozen=True)
class BindAddresses:
    """The `-a` default bind address: at most one IPv4 and one IPv6 address, as FreeBSD."""

    inet: str | None = None
    inet6: str | None = None

    @property
    def given(self) -> bool:
        return self.inet is not None or self.inet6 is not None


def resolve_bind_address(text: str) -> BindAddresses:
    """Resolve `-a address|hostname`; raises BindError if it names no address."""
    try:
        infos = socket.getaddrinfo(text, None, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise BindError(f"-a {text}: {exc.strerror}") from exc
    v4 = next((str(i[4][0]) for i in infos if i[0] == socket.AF_INET), None)
    v6 = next((str(i[4][0]) for i in infos if i[0] == socket.AF_INET6), None)
    return BindAddresses(v4, v6)


def bind_target(service: Service, default: BindAddresses) -> tuple[int, str] | None:
    """(address family, numeric host) a service binds to; None when `-a` rules it out."""
    lst = service.listen
    assert lst is not None and lst.family is not Family.UNIX
    host = lst.host or WILDCARD
    if host != WILDCARD:
        return (socket.AF_INET if lst.family is Family.INET else socket.AF_INET6), host
    if lst.family is Family.INET:
        if default.given and default.inet is None:
            return None
        return socket.AF_INET, default.inet or "0.0.0.0"
    if lst.family is Family.INET6:
        if default.given and default.inet6 is None:
            return None
        return socket.AF_INET6, default.inet6 or "::"
    # tcp46 degrades to the one family `-a` gave, as FreeBSD does.
    if default.inet6 is not None:
        return socket.AF_INET6, default.inet6
    if default.inet is not None:
        return socket.AF_INET, default.inet
    return socket.AF_INET6, "::"


def bind(service: Service, default: BindAddresses | None = None) -> socket.socket:
    """Create, bind and (for stream) listen; the socket is non-blocking and close-on-exec."""
    lst = service.listen
    assert lst is not None
    kind = _SOCKET_TYPES[service.socket_type]
    if lst.family is Family.UNIX:
        return _bind_unix(service, kind)
    target = bind_target(service, default or BindAddresses())
    if target is None:
        raise BindError(f"{service.label}: not bound: -a gives no address of its family")
    af, host = target
    try:
        sock = socket.socket(af, kind)
    except OSError as exc:
        raise BindError(f"{service.label}: socket: {exc.strerror}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if af == socket.AF_INET6:
            dual = lst.family is Family.DUAL and host == "::"
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual else 1)
        _set_buffers(sock, service)
        sock.bind((host, lst.port or 0))
        if kind in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
            sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise BindError(f"{service.label}: bind: {exc.strerror or exc}") from exc
    return sock


def _set_buffers(sock: socket.socket, service: Service) -> None:
    if service.sndbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, service.sndbuf)
    if service.rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, service.rcvbuf)


def _bind_unix(service: Service, kind: int) -> socket.socket:
    lst = service.listen
    assert lst is not None and lst.path is not None
    path = lst.path
    try:
        uid = pwd.getpwnam(lst.owner).pw_uid if lst.owner else -1
        gid = grp.getgrnam(lst.group).gr_gid if lst.group else -1
    except KeyError as exc:
        raise BindError(f"{service.label}: {exc.args[0]}") from exc
    _remove_stale(service, path)
    try:
        sock = socket.socket(socket.AF_UNIX, kind)
    except OSError as exc:
        raise BindError(f"{service.label}: socket: {exc.strerror or exc}") from exc
    # Bind under a umask that denies everything, so the socket file never exists with
    # wider permissions than configured, then set owner and mode (FreeBSD's order).
    old = os.umask(0o777)
    try:
        _set_buffers(sock, service)
        sock.bind(path)
    except OSError as exc:
        sock.close()
        raise BindError(f"{service.label}: bind: {exc.strerror or exc}") from exc
    finally:
        os.umask(old)
    try:
        if uid != -1 or gid != -1:
            os.chown(path, uid, gid)
        os.chmod(path, DEFAULT_UNIX_MODE if lst.mode is None else lst.mode)
        if kind in (socket.SOCK_STREAM, socket.SOCK_SEQPACKET):
            sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        unlink_unix(path)
        raise BindError(f"{service.label}: {path}: {exc.strerror or exc}") from exc
    return sock


def _remove_stale(service: Service, path: str) -> None:
    """Replace a socket file left by an earlier run; never remove anything else."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise BindError(f"{service.label}: {path}: {exc.strerror}") from exc
    if not stat.S_ISSOCK(st.st_mode):
        raise BindError(f"{service.label}: {path}: exists and is not a socket")
    unlink_unix(path)


def unlink_unix(path: str, inode: int | None = None) -> None:
    """Remove a socket file; with `inode`, only if the path still names that socket (a
    newer listener may have replaced it)."""
    with contextlib.suppress(FileNotFoundError):
        if inode is not None and os.lstat(path).st_ino != inode:
            return
        os.unlink(path)


def inode_of(path: str) -> int | None:
    try:
        return os.lstat(path).st_ino
    except OSError:
        return None


def is_fd_exhaustion(exc: OSError) -> bool:
    return exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def describe(sock: socket.socket) -> str:
    """The bound address as `host:port`, `[v6]:port` or the UNIX path."""
    name = sock.getsockname()
    if isinstance(name, str | bytes):
        return name.decode() if isinstance(name, bytes) else name
    host, port = name[0], name[1]
    return f"[{host}]:{port}" if sock.family == socket.AF_INET6 else f"{host}:{port}"
