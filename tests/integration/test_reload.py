"""SIGHUP reloads through a real pyinetd: kept sockets (same inode), added, removed and
rebound services, changed arguments, broken and missing files, live sessions.

Config lines that a reload removes are replaced by comments, so every other entry keeps
its line number (the harness maps listening addresses by line). Services that must stay
apart across a reload differ in their bound port: a kept service is matched by address,
port and protocol, so several `127.0.0.1:0` entries would all look alike to the reload.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import PROGRAMS, WAIT, process_state, tcp_exchange, wait_until

CONTRACT = f"{PROGRAMS}/contract.py contract.py"
TALK = f"{PROGRAMS}/talk.sh talk.sh"


@pytest.fixture
def reserve() -> Iterator[Callable[[], int]]:
    """Ports on 127.0.0.1 held for pyinetd: each is bound by a socket of ours with
    SO_REUSEADDR that never listens, which keeps the kernel from handing the port to
    anyone else, while pyinetd (also SO_REUSEADDR) may still bind and listen on it."""
    held: list[socket.socket] = []

    def take() -> int:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        held.append(s)
        return int(s.getsockname()[1])

    try:
        yield take
    finally:
        for s in held:
            s.close()


def listening_inode(port: int) -> int:
    """The inode of the listening TCP socket on 127.0.0.1:port, from /proc/net/tcp."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for row in f:
            fields = row.split()
            if fields[1] == want and fields[3] == "0A":
                return int(fields[9])
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def socket_inodes(pid: int) -> set[int]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                found.add(int(link[8:-1]))
    return found


def held_socket(d: object, line: int) -> int:
    """The inode of the socket pyinetd holds for config line `line`."""
    inode = listening_inode(d.port(line))  # type: ignore[attr-defined]
    assert inode in socket_inodes(d.proc.pid)  # type: ignore[attr-defined]
    return inode


def refused(addr: tuple[str, int] | str) -> bool:
    try:
        tcp_exchange(addr, timeout=2.0)
    except ConnectionRefusedError:
        return True
    return False


def report(raw: bytes) -> dict[str, object]:
    return json.loads(raw.decode().splitlines()[0])  # type: ignore[no-any-return]


class Session:
    """A live connection to talk.sh: it greets with its pid, then echoes lines."""

    def __init__(self, addr: tuple[str, int]) -> None:
        self.sock = socket.create_connection(addr, timeout=WAIT)
        self.file = self.sock.makefile("rb")
        hello = self.file.readline().split()
        assert hello[0] == b"hello", hello
        self.pid = int(hello[1])

    def say(self, text: str) -> str:
        self.sock.sendall(text.encode() + b"\n")
        return self.file.readline().decode().rstrip("\n")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_added_service_listens_and_the_old_socket_is_kept(pyinetd, reserve) -> None:
    port = reserve()
    d = pyinetd(["127.0.0.1:0 stream tcp nowait root internal echo"])
    before = held_socket(d, 1)
    d.reload(
        [
            "127.0.0.1:0 stream tcp nowait root internal echo",
            f"127.0.0.1:{port} stream tcp nowait root {CONTRACT}",
        ]
    )
    assert d.seen(r"reload: 1 kept, 1 added, 0 removed")
    assert d.addr(2) == ("127.0.0.1", port)
    assert held_socket(d, 1) == before
    assert tcp_exchange(d.addr(1), b"same socket") == b"same socket"
    assert report(tcp_exchange(d.addr(2)))["fds"] == [0, 1, 2]


def test_removed_service_closes_but_its_child_finishes(pyinetd, reserve) -> None:
    port = reserve()
    d = pyinetd(
        [
            f"127.0.0.1:{port} stream tcp nowait root {TALK}",
            "127.0.0.1:0 stream tcp nowait root internal echo",
        ]
    )
    session = Session(d.addr(1))
    try:
        assert session.say("before") == "before"
        d.reload(["# removed", "127.0.0.1:0 stream tcp nowait root internal echo"])
        assert d.seen(r"reload: 1 kept, 0 added, 1 removed")
        assert d.seen(rf":{port}/tcp: removed \(1 children and 0 sessions left to finish\)")
        assert refused(("127.0.0.1", port))
        # The child was not signalled and its session goes on.
        assert process_state(session.pid) not in (None, "Z")
        assert session.pid in d.children()
        assert session.say("after the reload") == "after the reload"
        assert tcp_exchange(d.addr(2), b"others serve") == b"others serve"
    finally:
        session.close()
    # Hanging up ends the child; it is still reaped and logged under its old label.
    d.wait_for(rf"127\.0\.0\.1:{port}/tcp\[{session.pid}\]: exit status 0")
    wait_until(lambda: session.pid not in d.children(), what="the child to be reaped")
    assert d.zombies() == []


def test_changed_arguments_keep_the_socket(pyinetd) -> None:
    d = pyinetd([f"127.0.0.1:0 stream tcp nowait root {CONTRACT} first"])
    before = held_socket(d, 1)
    assert report(tcp_exchange(d.addr(1)))["argv"] == [f"{PROGRAMS}/contract.py", "first"]
    addr = d.addr(1)
    d.reload([f"127.0.0.1:0 stream tcp nowait root {CONTRACT} second"])
    assert d.seen(r"reload: 1 kept, 0 added, 0 removed")
    assert d.addr(1) == addr
    assert held_socket(d, 1) == before
    assert report(tcp_exchange(addr))["argv"] == [f"{PROGRAMS}/contract.py", "second"]


def test_changed_port_rebinds_three_rounds(pyinetd, reserve) -> None:
    port = reserve()
    d = pyinetd([f"127.0.0.1:{port} stream tcp nowait root internal echo"])
    for n in range(3):
        old = port
        port = reserve()
        d.reload([f"127.0.0.1:{port} stream tcp nowait root internal echo"])
        assert d.seen(r"reload: 0 kept, 1 added, 1 removed")
        assert d.addr(1) == ("127.0.0.1", port)
        assert refused(("127.0.0.1", old))
        assert tcp_exchange(("127.0.0.1", port), b"round %d" % n) == b"round %d" % n
        held_socket(d, 1)
    assert d.zombies() == []


def test_broken_line_keeps_its_old_service(pyinetd, reserve) -> None:
    p1, p2, p3 = reserve(), reserve(), reserve()
    d = pyinetd(
        [
            f"127.0.0.1:{p1} stream tcp nowait root internal echo",
            f"127.0.0.1:{p2} stream tcp nowait root {CONTRACT}",
        ]
    )
    kept = held_socket(d, 2)
    d.reload(
        [
            f"127.0.0.1:{p1} stream tcp nowait root internal echo",
            f"127.0.0.1:{p2} stream tcp nowait root",
            f"127.0.0.1:{p3} stream tcp nowait root internal echo",
        ]
    )
    assert d.seen(rf"{d.conf}:2: ")
    assert d.seen(r"reload: 1 errors; only services replaced on their endpoint are removed")
    # The good entries are applied: line 3 is new and serves.
    assert tcp_exchange(("127.0.0.1", p3), b"new") == b"new"
    assert tcp_exchange(("127.0.0.1", p1), b"kept") == b"kept"
    # The broken line's old service still answers, on its old socket.
    assert report(tcp_exchange(("127.0.0.1", p2)))["fds"] == [0, 1, 2]
    assert listening_inode(p2) == kept
    assert kept in socket_inodes(d.proc.pid)


@pytest.mark.parametrize("how", ["removed", "unreadable"])
def test_missing_or_unreadable_file_changes_nothing(pyinetd, how: str) -> None:
    d = pyinetd(
        [
            "127.0.0.1:0 stream tcp nowait root internal echo",
            f"127.0.0.1:0 stream tcp nowait root {CONTRACT}",
        ]
    )
    inode = held_socket(d, 1)
    conf = Path(d.conf)
    conf.unlink()
    if how == "unreadable":
        # Root reads past any mode bits; a symlink pointing at itself fails to open for
        # everyone (ELOOP).
        conf.symlink_to(conf.name)
    d.proc.send_signal(signal.SIGHUP)
    d.wait_for(r"reload: configuration unreadable")
    assert d.seen(rf"{conf}")
    assert tcp_exchange(d.addr(1), b"still here") == b"still here"
    assert report(tcp_exchange(d.addr(2)))["fds"] == [0, 1, 2]
    assert held_socket(d, 1) == inode
    # A good file again: the reload applies and the kept socket is still the same.
    conf.unlink(missing_ok=True)
    d.reload(
        [
            "127.0.0.1:0 stream tcp nowait root internal echo",
            f"127.0.0.1:0 stream tcp nowait root {CONTRACT}",
        ]
    )
    assert held_socket(d, 1) == inode


def test_reload_keeps_port_0_entries_apart(pyinetd) -> None:
    """Two entries on `127.0.0.1:0` are two sockets; an unchanged reload keeps each one
    with its own program (and opens no third socket)."""
    lines = [
        f"127.0.0.1:0 stream tcp nowait root {CONTRACT} first",
        f"127.0.0.1:0 stream tcp nowait root {CONTRACT} second",
    ]
    d = pyinetd(lines)
    before = {line: held_socket(d, line) for line in (1, 2)}
    sockets = socket_inodes(d.proc.pid)
    d.reload(lines)
    assert d.seen(r"reload: 2 kept, 0 added, 0 removed"), d.log()
    assert {line: held_socket(d, line) for line in (1, 2)} == before
    assert socket_inodes(d.proc.pid) == sockets
    assert report(tcp_exchange(d.addr(1)))["argv"][1:] == ["first"]  # type: ignore[index]
    assert report(tcp_exchange(d.addr(2)))["argv"][1:] == ["second"]  # type: ignore[index]


def test_live_session_survives_a_reload(pyinetd, reserve) -> None:
    port = reserve()
    lines = [f"127.0.0.1:0 stream tcp nowait root {TALK}"]
    d = pyinetd(lines)
    inode = held_socket(d, 1)
    session = Session(d.addr(1))
    try:
        assert session.say("one") == "one"
        d.reload([*lines, f"127.0.0.1:{port} stream tcp nowait root internal echo"])
        assert session.say("two") == "two"
        d.reload(lines)
        assert session.say("three") == "three"
        assert held_socket(d, 1) == inode
        assert session.pid in d.children()
        # The kept service still takes new connections beside the live one.
        other = Session(d.addr(1))
        try:
            assert other.pid != session.pid
            assert other.say("beside") == "beside"
        finally:
            other.close()
    finally:
        session.close()
    d.wait_for(rf"\[{session.pid}\]: exit status 0")
    assert d.zombies() == []


def test_reload_wait_to_nowait_while_the_wait_child_holds_the_socket(pyinetd) -> None:
    """The listener's blocking mode is shared with the wait child: pyinetd must not accept
    on it until that child is gone, and must keep serving everything else meanwhile."""
    wait_line = f"127.0.0.1:0 stream tcp wait root {PROGRAMS}/wait_echo.py wait_echo.py"
    daytime = "127.0.0.1:0 stream tcp nowait root internal daytime"
    d = pyinetd([wait_line, daytime])
    a = socket.create_connection(d.addr(1), timeout=WAIT)
    a.sendall(b"a")
    assert a.recv(10) == b"a"
    d.reload(["127.0.0.1:0 stream tcp nowait root internal echo", daytime])
    b = socket.create_connection(d.addr(1), timeout=WAIT)  # queued in the backlog
    try:
        assert len(tcp_exchange(d.addr(2))) == 26  # the loop is not blocked
        a.close()  # the wait child exits; the socket turns non-blocking; echo serves b
        b.sendall(b"b")
        b.shutdown(socket.SHUT_WR)
        assert b.recv(10) == b"b"
    finally:
        b.close()


def test_sighup_binds_a_listener_that_failed_at_start(pyinetd) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        lines = [f"127.0.0.1:{port} stream tcp nowait root internal echo"]
        d = pyinetd(lines, ["-d", "-r", "600"])
        assert d.seen(rf":{port}/tcp: bind: Address already in use")
    # The port is free now; SIGHUP retries at once instead of in ten minutes.
    d.reload(lines)
    assert tcp_exchange(("127.0.0.1", port), b"bound") == b"bound"


def test_removed_builtin_keeps_its_live_session(pyinetd) -> None:
    echo = "127.0.0.1:0 stream tcp nowait root internal echo"
    daytime = "127.0.0.1:0 stream tcp nowait root internal daytime"
    d = pyinetd([echo, daytime])
    s = socket.create_connection(d.addr(1), timeout=WAIT)
    try:
        s.sendall(b"a")
        assert s.recv(10) == b"a"
        d.reload(["# echo removed", daytime])
        assert d.seen(r"removed \(0 children and 1 sessions left to finish\)")
        s.sendall(b"b")
        assert s.recv(10) == b"b"
    finally:
        s.close()


def test_unix_service_replaced_during_a_reload_with_errors(pyinetd, tmp_path) -> None:
    path = tmp_path / "echo"
    good = f"{path} stream unix nowait root internal"
    d = pyinetd([good])
    assert tcp_exchange(str(path), b"one") == b"one"
    # A new mode for the same path, next to a broken line: the new entry replaces the
    # old one on its path instead of both claiming it.
    d.reload([f":root:root:600:{path} stream unix nowait root internal", "broken line"])
    assert tcp_exchange(str(path), b"two") == b"two"
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    d.reload([f":root:root:600:{path} stream unix nowait root internal"])
    assert tcp_exchange(str(path), b"three") == b"three"
