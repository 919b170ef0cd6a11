"""Listener kinds through a real pyinetd: UNIX stream and datagram sockets (mode, owner,
stale files), IPv6, dual stack, socket buffer sizes, and UNIX files removed on SIGTERM.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PROGRAMS, WAIT, ipv6_available, tcp_exchange, udp_exchange

CONTRACT = f"{PROGRAMS}/contract.py contract.py"
SOCKOPTS = f"{PROGRAMS}/sockopts.py sockopts.py"
UDP_REPLY = f"{PROGRAMS}/udp_reply.py udp_reply.py"

needs_ipv6 = pytest.mark.skipif(not ipv6_available(), reason="IPv6 loopback (::1) unavailable")


@pytest.fixture
def sockdir() -> Iterator[Path]:
    """A short directory for UNIX socket paths (sun_path holds about 100 bytes, and
    pytest's tmp_path can be longer than that)."""
    path = Path(tempfile.mkdtemp(prefix="pyinetd-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def report(raw: bytes) -> dict[str, object]:
    return json.loads(raw.decode().splitlines()[0])  # type: ignore[no-any-return]


def unix_dgram_exchange(path: Path, client: Path, send: bytes) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.settimeout(WAIT)
        s.bind(str(client))
        try:
            s.sendto(send, str(path))
            return s.recv(65536)
        finally:
            os.unlink(client)


def expected_buffer(kind: str, wanted: int) -> int:
    """What getsockopt reports after setsockopt(wanted): Linux caps the request at
    net.core.{w,r}mem_max and doubles it to account for its own bookkeeping."""
    with open(f"/proc/sys/net/core/{kind}_max") as f:
        cap = int(f.read())
    return 2 * min(wanted, cap)


# ----------------------------------------------------------------------------- UNIX


def test_unix_stream_builtin_and_program(pyinetd, sockdir: Path) -> None:
    echo, prog = sockdir / "echo", sockdir / "prog"
    d = pyinetd(
        [
            f"{echo} stream unix nowait root internal",
            f"{prog} stream unix nowait root {CONTRACT}",
        ]
    )
    assert d.addr(1) == str(echo)
    assert d.addr(2) == str(prog)
    assert tcp_exchange(str(echo), b"over unix\n") == b"over unix\n"
    r = report(tcp_exchange(str(prog)))
    assert r["fds"] == [0, 1, 2]
    assert r["same_socket_012"] is True
    env = r["env"]
    assert isinstance(env, dict)
    assert env["PROTO"] == "UNIX"
    assert env["UNIXLOCALPATH"] == str(prog)
    # SO_PEERCRED names the connecting process: this test.
    assert env["UNIXREMOTEPID"] == str(os.getpid())
    assert env["UNIXREMOTEEUID"] == str(os.geteuid())
    assert env["UNIXREMOTEEGID"] == str(os.getegid())
    d.wait_for(rf"{prog}/unix\[\d+\]: exit status 0")


def test_unix_dgram_builtin_and_program(pyinetd, sockdir: Path) -> None:
    echo, prog = sockdir / "echo", sockdir / "reply"
    d = pyinetd(
        [
            f"{echo} dgram unix wait root internal",
            f"{prog} dgram unix wait root {UDP_REPLY}",
        ]
    )
    assert d.addr(1) == str(echo)
    assert unix_dgram_exchange(echo, sockdir / "c1", b"ping") == b"ping"
    answer = unix_dgram_exchange(prog, sockdir / "c2", b"pong")
    assert answer.startswith(b"pid:") and answer.endswith(b" pong")
    pid = int(answer.split()[0][4:])
    d.wait_for(rf"{prog}/unix\[{pid}\]: exit status 0")


def test_unix_socket_default_mode_and_owner(pyinetd, sockdir: Path) -> None:
    path = sockdir / "echo"
    pyinetd([f"{path} stream unix nowait root internal"])
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    # FreeBSD's default: writable (connectable) by the owner only, owned by the daemon.
    assert stat.S_IMODE(st.st_mode) == 0o200
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())


def _prefix_owner() -> tuple[str, str, int, int]:
    """An owner and group the daemon may give a socket file: as root, someone else's."""
    if os.geteuid() == 0:
        for user, group in (("nobody", "nogroup"), ("nobody", "nobody"), ("daemon", "daemon")):
            try:
                uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid
            except KeyError:
                continue
            return user, group, uid, gid
    uid, gid = os.geteuid(), os.getegid()
    return pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name, uid, gid


def test_unix_socket_owner_group_mode_prefix(pyinetd, sockdir: Path) -> None:
    user, group, uid, gid = _prefix_owner()
    path = sockdir / "echo"
    d = pyinetd([f":{user}:{group}:660:{path} stream unix nowait root internal"])
    assert d.addr(1) == str(path)
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert (st.st_uid, st.st_gid) == (uid, gid)
    assert tcp_exchange(str(path), b"prefixed") == b"prefixed"


def test_stale_unix_socket_file_is_replaced(pyinetd, sockdir: Path) -> None:
    path = sockdir / "echo"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as old:
        old.bind(str(path))
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    path.chmod(0o755)
    with pytest.raises(ConnectionRefusedError):
        tcp_exchange(str(path), timeout=1.0)

    d = pyinetd([f"{path} stream unix nowait root internal"])
    assert d.addr(1) == str(path)
    # The new socket file has pyinetd's mode, not the old file's.
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o200
    assert tcp_exchange(str(path), b"fresh") == b"fresh"


def test_regular_file_at_unix_path_is_kept_and_reported(pyinetd, sockdir: Path) -> None:
    path, other = sockdir / "echo", sockdir / "sub" / "echo"
    path.write_text("not a socket, keep me\n")
    other.parent.mkdir()
    d = pyinetd(
        [
            f"{path} stream unix nowait root internal",
            f"{other} stream unix nowait root internal",
        ]
    )
    assert d.seen(rf"{path}/unix: {path}: exists and is not a socket")
    assert 1 not in d.addresses
    assert d.seen(r"ready: 1 services listening")
    assert path.read_text() == "not a socket, keep me\n"
    assert tcp_exchange(str(other), b"the other one") == b"the other one"
    assert d.stop() == 0
    assert path.read_text() == "not a socket, keep me\n"


def test_sigterm_removes_unix_socket_files(pyinetd, sockdir: Path) -> None:
    stream, dgram = sockdir / "echo", sockdir / "daytime"
    d = pyinetd(
        [
            f"{stream} stream unix nowait root internal",
            f"{dgram} dgram unix wait root internal",
        ]
    )
    assert stat.S_ISSOCK(os.stat(stream).st_mode)
    assert stat.S_ISSOCK(os.stat(dgram).st_mode)
    assert d.stop() == 0
    assert not stream.exists()
    assert not dgram.exists()
    assert os.listdir(sockdir) == []


# ----------------------------------------------------------------------------- IPv6


@needs_ipv6
def test_tcp6_on_ipv6_loopback(pyinetd) -> None:
    d = pyinetd(
        [
            f"[::1]:0 stream tcp6 nowait root {CONTRACT}",
            f"[::1]:0 stream tcp6 wait root {SOCKOPTS}",
        ]
    )
    host, port = d.addr(1)  # type: ignore[misc]
    assert host == "::1"
    with socket.create_connection(("::1", port), timeout=WAIT) as s:
        local = s.getsockname()
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    env = report(raw)["env"]
    assert isinstance(env, dict)
    assert env["PROTO"] == "TCP6"
    assert env["TCPREMOTEIP"] == "::1"
    assert env["TCPREMOTEPORT"] == str(local[1])
    assert env["TCPLOCALIP"] == "::1"
    assert env["TCPLOCALPORT"] == str(port)
    opts = report(tcp_exchange(d.addr(2)))
    assert opts["family"] == socket.AF_INET6
    assert opts["v6only"] == 1


@needs_ipv6
def test_tcp46_dual_stack_serves_both_families(pyinetd) -> None:
    d = pyinetd(
        [
            f"*:0 stream tcp46 nowait root {CONTRACT}",
            f"*:0 stream tcp46 wait root {SOCKOPTS}",
        ],
        ["-d", "-l"],
    )
    host, port = d.addr(1)  # type: ignore[misc]
    assert host == "::"
    v4 = report(tcp_exchange(("127.0.0.1", port)))["env"]
    assert isinstance(v4, dict)
    # An IPv4 peer of a dual-stack socket shows as plain IPv4, not ::ffff:127.0.0.1.
    assert v4["PROTO"] == "TCP"
    assert v4["TCPREMOTEIP"] == "127.0.0.1"
    assert v4["TCPLOCALIP"] == "127.0.0.1"
    assert v4["TCPLOCALPORT"] == str(port)
    d.wait_for(r"connection from 127\.0\.0\.1:\d+, pid \d+")
    v6 = report(tcp_exchange(("::1", port)))["env"]
    assert isinstance(v6, dict)
    assert v6["PROTO"] == "TCP6"
    assert v6["TCPREMOTEIP"] == "::1"
    assert v6["TCPLOCALIP"] == "::1"
    d.wait_for(r"connection from \[::1\]:\d+, pid \d+")
    # One socket for both families.
    opts = report(tcp_exchange(("127.0.0.1", d.port(2))))
    assert opts["family"] == socket.AF_INET6
    assert opts["v6only"] == 0


# ----------------------------------------------------------------------------- buffers


def test_stream_sndbuf_and_rcvbuf_are_applied(pyinetd) -> None:
    d = pyinetd(
        [
            f"127.0.0.1:0 stream tcp,sndbuf=65536,rcvbuf=32768 wait root {SOCKOPTS}",
            f"127.0.0.1:0 stream tcp wait root {SOCKOPTS}",
        ]
    )
    opts = report(tcp_exchange(d.addr(1)))
    assert opts["listening"] is True
    assert opts["sndbuf"] == expected_buffer("wmem", 65536)
    assert opts["rcvbuf"] == expected_buffer("rmem", 32768)
    # Without the options the kernel defaults stay: the sizes above came from the entry.
    plain = report(tcp_exchange(d.addr(2)))
    assert (plain["sndbuf"], plain["rcvbuf"]) != (opts["sndbuf"], opts["rcvbuf"])


def test_dgram_sndbuf_and_rcvbuf_are_applied(pyinetd) -> None:
    d = pyinetd([f"127.0.0.1:0 dgram udp,sndbuf=24576,rcvbuf=49152 wait root {SOCKOPTS}"])
    addr = d.addr(1)
    assert isinstance(addr, tuple)
    data, _ = udp_exchange(addr, b"sizes?")
    opts = report(data)
    assert opts["sndbuf"] == expected_buffer("wmem", 24576)
    assert opts["rcvbuf"] == expected_buffer("rmem", 49152)
