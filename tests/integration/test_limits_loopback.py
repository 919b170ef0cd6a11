"""Every limit over loopback, decided in the daemon before any fork, and a bounded flood."""

from __future__ import annotations

import os
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import PROGRAMS, WAIT, tcp_exchange, wait_until

SLEEPER = f"{PROGRAMS}/sleeper.sh sleeper.sh"


def connect_from(source: str, addr: tuple[str, int]) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(WAIT)
    s.bind((source, 0))
    s.connect(addr)
    return s


def hello(s: socket.socket) -> bytes:
    """The sleeper's greeting, or b'' when the connection was closed unserved."""
    try:
        return s.recv(100)
    except ConnectionResetError:
        return b""


def test_max_child_queues_in_the_backlog(pyinetd) -> None:
    d = pyinetd([f"127.0.0.1:0 stream tcp nowait/2 root {SLEEPER}"])
    a = connect_from("127.0.0.1", d.addr(1))
    b = connect_from("127.0.0.1", d.addr(1))
    assert hello(a).startswith(b"hello") and hello(b).startswith(b"hello")
    c = connect_from("127.0.0.1", d.addr(1))  # the kernel completes it; pyinetd waits
    c.settimeout(0.5)
    try:
        c.recv(100)
        raise AssertionError("a third child started beyond max-child 2")
    except TimeoutError:
        pass
    assert len(d.children()) == 2
    a.close()  # the first child sees EOF and exits; the queued connection is served
    c.settimeout(WAIT)
    assert hello(c).startswith(b"hello")
    for s in (b, c):
        s.close()


def test_connections_per_ip_per_minute(pyinetd) -> None:
    d = pyinetd(["127.0.0.1:0 stream tcp nowait/0/3 root /bin/echo echo hi"])
    served = [tcp_exchange(d.addr(1)) for _ in range(3)]
    assert served == [b"hi\n"] * 3
    assert tcp_exchange(d.addr(1)) == b""
    d.wait_for(r"0/tcp: 127\.0\.0\.1 refused: 4 connections/min > limit 3")
    with connect_from("127.0.0.2", d.addr(1)) as s:  # another source has its own count
        assert s.recv(100) == b"hi\n"


def test_children_per_ip(pyinetd) -> None:
    d = pyinetd([f"127.0.0.1:0 stream tcp nowait/0/0/1 root {SLEEPER}"])
    a = connect_from("127.0.0.2", d.addr(1))
    assert hello(a).startswith(b"hello")
    b = connect_from("127.0.0.2", d.addr(1))
    assert hello(b) == b""
    d.wait_for(r"127\.0\.0\.2 refused: 2 children > limit 1")
    c = connect_from("127.0.0.3", d.addr(1))
    assert hello(c).startswith(b"hello")
    for s in (a, b, c):
        s.close()


def test_global_defaults_and_service_values_win(pyinetd) -> None:
    d = pyinetd(
        [
            "127.0.0.1:0 stream tcp nowait root /bin/echo echo a",
            "127.0.0.1:0 stream tcp nowait/0/5 root /bin/echo echo b",
        ],
        ["-d", "-C", "1"],
    )
    assert tcp_exchange(d.addr(1)) == b"a\n"
    assert tcp_exchange(d.addr(1)) == b""
    assert [tcp_exchange(d.addr(2)) for _ in range(5)] == [b"b\n"] * 5


def test_looping_guard_pauses_and_resumes_by_itself(pyinetd) -> None:
    d = pyinetd(["127.0.0.1:0 stream tcp nowait.3 root /bin/echo echo ok"], ["-d", "-r", "1"])
    assert [tcp_exchange(d.addr(1)) for _ in range(3)] == [b"ok\n"] * 3
    assert tcp_exchange(d.addr(1)) == b""  # the 4th within a minute trips the guard
    d.wait_for(r"0/tcp: server failing \(looping\), service paused for 1 s")
    # The port stays bound while paused: this connection waits and is served after.
    assert tcp_exchange(d.addr(1)) == b"ok\n"


def test_global_rate_trips_wait_dgram_that_never_reads(pyinetd) -> None:
    d = pyinetd(["127.0.0.1:0 dgram udp wait root /bin/true true"], ["-d", "-R", "2", "-r", "30"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"never read", d.addr(1))
    d.wait_for(r"server failing \(looping\), service paused for 30 s", timeout=WAIT)
    assert len([x for x in d.lines if "exit status 0" in x]) <= 3


def _fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _fds(pid: int) -> list[str]:
    out = []
    for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            out.append(f"{fd}->{os.readlink(f'/proc/{pid}/fd/{fd}')}")
        except OSError:
            continue
    return out


def _echo_once(addr: tuple[str, int]) -> bool:
    try:
        return tcp_exchange(addr, b"x", timeout=WAIT) == b"x"
    except OSError:  # reset or not connected: closed unserved, as a refusal is
        return False


def test_flood_holds_limits_exactly_and_leaks_nothing(pyinetd) -> None:
    d = pyinetd(
        [
            "127.0.0.1:0 stream tcp nowait/0/100 root internal echo",
            "127.0.0.1:0 stream tcp nowait root internal daytime",
            "127.0.0.1:0 stream tcp nowait/4 root /bin/echo echo hi",
        ]
    )
    assert d.proc is not None
    # Counted before any connection, so no session still closing can be in the count.
    fds_before = _fd_count(d.proc.pid)
    listing = _fds(d.proc.pid)
    assert len(tcp_exchange(d.addr(2))) == 26
    sent = 2000
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(lambda _: _echo_once(d.addr(1)), range(sent)))
        programs = list(pool.map(lambda _: tcp_exchange(d.addr(3)), range(200)))
    served = sum(results)
    assert served == 100
    assert sent - served == 1900
    assert programs == [b"hi\n"] * 200  # max-child 4 queues; nothing is refused
    assert len(tcp_exchange(d.addr(2))) == 26  # other services kept answering
    wait_until(lambda: not d.children(), what="children reaped")
    try:
        wait_until(lambda: _fd_count(d.proc.pid) == fds_before, what="fds back to before")
    except AssertionError:
        raise AssertionError(f"fds before: {listing}; after: {_fds(d.proc.pid)}") from None
    assert d.zombies() == []
    # Refusals are summarised, not logged one line each.
    assert d.seen(r"127\.0\.0\.1 refused: 101 connections/min > limit 100")
    refused_lines = [x for x in d.lines if "refused" in x]
    assert 1 <= len(refused_lines) < 10
    print(
        f"flood: sent {sent}, served {served}, refused {sent - served} "
        f"(connections/min > limit 100), fds before {fds_before}, "
        f"after {_fd_count(d.proc.pid)}"
    )


def test_fd_exhaustion_backs_off_and_recovers(pyinetd) -> None:
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is not installed")
    # A descriptor limit just above what the daemon needs at rest (about 7), so held
    # connections exhaust it and accept() fails with EMFILE before the in-process session
    # cap (at least 16, limits.session_limit) refuses them.
    d = pyinetd(
        ["127.0.0.1:0 stream tcp nowait root internal echo"], wrapper=["prlimit", "--nofile=18"]
    )
    held = []
    try:
        for _ in range(30):
            held.append(socket.create_connection(d.addr(1), timeout=WAIT))
        d.wait_for(r"0/tcp: accept: Too many open files; pausing 1 s")
        assert d.proc is not None and d.proc.poll() is None  # still running
    finally:
        for s in held:
            s.close()
    # Once descriptors are free again the service answers by itself.
    wait_until(lambda: _echo_once(d.addr(1)), what="echo answering after the back-off")
    assert d.zombies() == []


def test_idle_sessions_cannot_take_every_descriptor(pyinetd) -> None:
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) is not installed")
    d = pyinetd(
        [
            "127.0.0.1:0 stream tcp nowait root internal echo",
            "127.0.0.1:0 stream tcp nowait root internal daytime",
            "127.0.0.1:0 stream tcp nowait root /bin/echo echo hi",
        ],
        wrapper=["prlimit", "--nofile=200"],
    )
    cap = 200 - 3 - 128  # limits.session_limit: descriptor limit - listeners - reserve
    held = []
    try:
        for _ in range(cap + 20):
            held.append(socket.create_connection(d.addr(1), timeout=WAIT))
        d.wait_for(rf"0/tcp: 127\.0\.0\.1 refused: {cap + 1} in-process sessions > limit {cap}")
        # Everything else still has descriptors to work with.
        assert len(tcp_exchange(d.addr(2))) == 26
        assert tcp_exchange(d.addr(3)) == b"hi\n"
        held[0].sendall(b"x")
        assert held[0].recv(10) == b"x"
    finally:
        for s in held:
            s.close()
    wait_until(lambda: _echo_once(d.addr(1)), what="echo answering again")
