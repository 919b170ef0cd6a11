"""Dispatch modes and the child contract, through a real pyinetd over loopback."""

from __future__ import annotations

import json
import os
import socket
import struct
import time

from conftest import PROGRAMS, WAIT, read_to_eof, tcp_exchange, udp_exchange, wait_until

CONTRACT = f"{PROGRAMS}/contract.py contract.py"
UDP_REPLY = f"{PROGRAMS}/udp_reply.py udp_reply.py"


def report(raw: bytes) -> dict[str, object]:
    return json.loads(raw.decode().splitlines()[0])  # type: ignore[no-any-return]


def test_nowait_stream_child_contract(pyinetd) -> None:
    d = pyinetd([f"127.0.0.1:0 stream tcp nowait root {PROGRAMS}/contract.py contract.py x"])
    with socket.create_connection(d.addr(1), timeout=WAIT) as s:
        local = s.getsockname()
        raw = read_to_eof(s)
    r = report(raw)
    assert r["fds"] == [0, 1, 2]
    assert r["same_socket_012"] is True
    assert r["listening"] is False
    assert r["nonblocking"] is False
    assert r["sid"] == r["pid"]
    assert r["argv"] == [f"{PROGRAMS}/contract.py", "x"]
    env = r["env"]
    assert isinstance(env, dict)
    assert env["PROTO"] == "TCP"
    assert env["TCPREMOTEIP"] == "127.0.0.1"
    assert env["TCPREMOTEPORT"] == str(local[1])
    assert env["TCPLOCALIP"] == "127.0.0.1"
    assert env["TCPLOCALPORT"] == str(d.port(1))
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    # A clean environment: nothing of the test runner's leaks through.
    assert "PYTEST_CURRENT_TEST" not in env
    # Python itself sets LC_CTYPE when it starts under the C locale (PEP 538).
    env.pop("LC_CTYPE", None)
    assert set(env) <= {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "PROTO",
        "TCPREMOTEIP",
        "TCPREMOTEPORT",
        "TCPLOCALIP",
        "TCPLOCALPORT",
    }
    d.wait_for(r"\[\d+\]: exit status 0")


def test_keep_env_passes_the_daemon_environment(pyinetd, monkeypatch) -> None:
    monkeypatch.setenv("PYINETD_TEST_MARK", "kept")
    d = pyinetd([f"127.0.0.1:0 stream tcp nowait root {CONTRACT}"], ["-d", "-E"])
    env = report(tcp_exchange(d.addr(1)))["env"]
    assert isinstance(env, dict)
    assert env["PYINETD_TEST_MARK"] == "kept"
    assert env["PROTO"] == "TCP"


def test_child_signal_state_is_default(pyinetd) -> None:
    # grep is exec'd directly: a Python child would ignore SIGPIPE again by itself.
    d = pyinetd(
        [
            r"127.0.0.1:0 stream tcp nowait root /bin/grep grep -E ^Sig(Ign|Blk) "
            "/proc/self/status"
        ]
    )
    lines = tcp_exchange(d.addr(1)).decode().split("\n")
    assert "SigBlk:\t0000000000000000" in lines
    assert "SigIgn:\t0000000000000000" in lines


def test_child_exit_status_and_signal_are_logged(pyinetd) -> None:
    d = pyinetd(
        [
            f"127.0.0.1:0 stream tcp nowait root {PROGRAMS}/exit_with.sh exit_with.sh 3",
            "127.0.0.1:0 stream tcp nowait root /bin/sh sh -c 'kill -TERM $$'",
        ]
    )
    assert tcp_exchange(d.addr(1)) == b"bye\n"
    d.wait_for(r"0/tcp\[\d+\]: exit status 3")
    tcp_exchange(d.addr(2))
    d.wait_for(r"0/tcp\[\d+\]: exit signal 15 \(SIGTERM\)")


def test_wait_stream_gets_the_listening_socket(pyinetd) -> None:
    d = pyinetd([f"127.0.0.1:0 stream tcp wait root {CONTRACT}"])
    first = report(tcp_exchange(d.addr(1)))
    assert first["listening"] is True
    assert first["fds"] == [0, 1, 2]
    assert first["nonblocking"] is False
    env = first["env"]
    assert isinstance(env, dict)
    assert env["TCPLOCALPORT"] == str(d.port(1))
    # Once the child is reaped, pyinetd watches the socket again: a new child serves.
    second = report(tcp_exchange(d.addr(1)))
    assert second["pid"] != first["pid"]


def test_wait_stream_one_child_at_a_time(pyinetd) -> None:
    # The child accepts one connection and holds it; while it runs nobody else accepts.
    d = pyinetd([f"127.0.0.1:0 stream tcp wait root {CONTRACT}"])
    a = socket.create_connection(d.addr(1), timeout=WAIT)
    b = socket.create_connection(d.addr(1), timeout=WAIT)
    try:
        ra = report(read_to_eof(a))
        rb = report(read_to_eof(b))
        assert ra["pid"] != rb["pid"]
        assert ra["listening"] and rb["listening"]
    finally:
        a.close()
        b.close()


def test_wait_dgram_child_reads_datagrams(pyinetd) -> None:
    d = pyinetd([f"127.0.0.1:0 dgram udp wait root {PROGRAMS}/udp_reply.py udp_reply.py 2"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(WAIT)
        s.sendto(b"one", d.addr(1))
        r1, _ = s.recvfrom(100)
        s.sendto(b"two", d.addr(1))
        r2, _ = s.recvfrom(100)
    assert r1.endswith(b" one") and r2.endswith(b" two")
    assert r1.split()[0] == r2.split()[0]  # the same child served both
    d.wait_for(r"0/udp\[\d+\]: exit status 0")
    r3, _ = udp_exchange(d.addr(1), b"three")
    assert r3.endswith(b" three") and r3.split()[0] != r1.split()[0]


def test_wait_dgram_child_env(pyinetd) -> None:
    d = pyinetd([f"127.0.0.1:0 dgram udp wait root {CONTRACT}"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(WAIT)
        s.bind(("127.0.0.1", 0))
        s.sendto(b"hi", d.addr(1))
        data, _ = s.recvfrom(65536)
        r = report(data)
        env = r["env"]
        assert isinstance(env, dict)
        assert env["PROTO"] == "UDP"
        assert env["UDPREMOTEPORT"] == str(s.getsockname()[1])
        assert env["UDPLOCALPORT"] == str(d.port(1))
        assert r["fds"] == [0, 1, 2]


def test_wait_dgram_child_that_never_reads_is_paused_as_looping(pyinetd) -> None:
    # With the invocation rate off, the guard still sees the loop directly.
    d = pyinetd(["127.0.0.1:0 dgram udp wait root /bin/true true"], ["-d", "-R", "0", "-r", "30"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"unread", d.addr(1))
    d.wait_for(r"exited without reading its datagram")
    d.wait_for(r"0/udp: server failing \(looping\), service paused for 30 s")
    starts = [line for line in d.lines if "exit status 0" in line]
    assert len(starts) == 3, d.log()


def test_nowait_dgram_program(pyinetd) -> None:
    d = pyinetd([f"127.0.0.1:0 dgram udp nowait root {UDP_REPLY}"])
    data, _ = udp_exchange(d.addr(1), b"ping")
    assert data.endswith(b" ping")


def test_exec_failure_is_logged_and_daemon_keeps_serving(pyinetd, tmp_path) -> None:
    prog = tmp_path / "vanishing"
    prog.write_text("#!/bin/sh\necho hi\n")
    prog.chmod(0o755)
    d = pyinetd(
        [
            f"127.0.0.1:0 stream tcp nowait root {prog} vanishing",
            "127.0.0.1:0 stream tcp nowait root internal echo",
        ]
    )
    prog.unlink()
    assert tcp_exchange(d.addr(1)) == b""
    d.wait_for(r"cannot execute .*vanishing")
    assert tcp_exchange(d.addr(2), b"still here") == b"still here"


def test_builtins_over_the_daemon(pyinetd) -> None:
    d = pyinetd(
        [
            "127.0.0.1:0 stream tcp nowait root internal echo",
            "127.0.0.1:0 stream tcp nowait root internal discard",
            "127.0.0.1:0 stream tcp nowait root internal chargen",
            "127.0.0.1:0 stream tcp nowait root internal daytime",
            "127.0.0.1:0 stream tcp nowait root internal time",
            "127.0.0.1:0 dgram udp wait root internal echo",
            "127.0.0.1:0 dgram udp wait root internal chargen",
            "127.0.0.1:0 dgram udp wait root internal daytime",
            "127.0.0.1:0 dgram udp wait root internal time",
        ]
    )
    children_before = d.children()
    assert tcp_exchange(d.addr(1), b"hello\n") == b"hello\n"
    assert tcp_exchange(d.addr(2), b"x" * 100000) == b""
    lines = tcp_exchange(d.addr(3), half_close=False, limit=148)[:148]
    assert (
        lines[:74]
        == b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"
    )
    assert lines[74:75] == b"!"
    daytime = tcp_exchange(d.addr(4))
    assert len(daytime) == 26 and daytime.endswith(b"\r\n")
    t = tcp_exchange(d.addr(5))
    assert len(t) == 4
    assert abs(struct.unpack("!I", t)[0] - 2208988800 - time.time()) < 3
    big = os.urandom(5000)
    assert udp_exchange(d.addr(6), big)[0] == big
    c1 = udp_exchange(d.addr(7), b"")[0]
    c2 = udp_exchange(d.addr(7), b"")[0]
    assert len(c1) == len(c2) == 74 and c2[:71] == c1[1:72]
    assert len(udp_exchange(d.addr(8), b"")[0]) == 26
    assert len(udp_exchange(d.addr(9), b"")[0]) == 4
    assert d.children() == children_before == []  # nothing forked


def test_udp_loop_request_is_refused(pyinetd) -> None:
    d = pyinetd(
        [
            "127.0.0.1:0 dgram udp wait root internal echo",
            "127.0.0.1:0 dgram udp wait root internal chargen",
        ]
    )
    chargen_port = d.port(2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # Pretend to be the chargen service itself (Linux lets two UDP sockets with
        # SO_REUSEADDR share a port): an echo reply would start a packet storm.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", chargen_port))
        s.sendto(b"loop", d.addr(1))
    d.wait_for(rf"loop request REFUSED from 127\.0\.0\.1 port {chargen_port}")
    assert udp_exchange(d.addr(1), b"fine")[0] == b"fine"


def test_tcpmux(pyinetd) -> None:
    d = pyinetd(
        [
            "127.0.0.1:0 stream tcp nowait root internal tcpmux",
            "tcpmux/+cat stream tcp nowait root /bin/cat cat",
            "tcpmux/date stream tcp nowait root /bin/echo echo -n +Go-mine",
        ]
    )
    assert tcp_exchange(d.addr(1), b"help\r\n") == b"cat\r\ndate\r\n"
    assert tcp_exchange(d.addr(1), b"CAT\r\nPAYLOAD") == b"+Go\r\nPAYLOAD"
    assert tcp_exchange(d.addr(1), b"date\r\n") == b"+Go-mine"
    assert tcp_exchange(d.addr(1), b"nope\r\n") == b"-Service not available\r\n"


def test_no_zombie_lingers(pyinetd) -> None:
    d = pyinetd([f"127.0.0.1:0 stream tcp nowait root {PROGRAMS}/exit_with.sh exit_with.sh 0"])
    for _ in range(20):
        assert tcp_exchange(d.addr(1)) == b"bye\n"
    wait_until(lambda: not d.children(), what="all children reaped")
    assert d.zombies() == []


def test_wait_stream_program_that_cannot_start_does_not_spin(pyinetd, tmp_path) -> None:
    prog = tmp_path / "gone"
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o755)
    d = pyinetd([f"127.0.0.1:0 stream tcp wait root {prog} gone"], ["-d", "-R", "0"])
    prog.unlink()
    with socket.create_connection(d.addr(1), timeout=WAIT):
        d.wait_for(r"cannot execute .*gone")
        time.sleep(1.5)  # a busy loop would log hundreds of failures meanwhile
    d.seen("")
    failures = [line for line in d.lines if "cannot execute" in line]
    assert 1 <= len(failures) <= 3, d.log()


def test_rpc_entries_are_reported_not_served(pyinetd) -> None:
    d = pyinetd(
        [
            "rstatd/1-3 dgram rpc/udp wait root /bin/true true",
            "127.0.0.1:0 stream tcp nowait root internal echo",
        ]
    )
    assert d.seen(r"rstatd/1-3/rpc/udp: RPC services are not served yet: no rpcbind registration")
    assert tcp_exchange(d.addr(2), b"ok") == b"ok"
    assert 1 not in d.addresses
