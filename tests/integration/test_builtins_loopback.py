"""Stream built-ins and TCPMUX name reading over real loopback sockets, in-process.

Each test runs one event loop with a real listening socket (127.0.0.1, ::1 or a UNIX path),
accepts one connection, hands it to the code under test, and drives it from a plain
blocking client with a timeout in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from conftest import read_to_eof
from pyinetd.builtins import read_tcpmux_name, serve_stream, tcpmux_help

T = TypeVar("T")
Address = Any  # (host, port) for IP, a path for UNIX
TIMEOUT = 10.0
FIRST_LINE = b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"
DAYTIME = re.compile(rb"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\r\n$")


def _ipv6_loopback_works() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _open_fds() -> set[str] | None:
    try:
        return set(os.listdir("/proc/self/fd"))
    except OSError:
        return None


@pytest.fixture(autouse=True)
def no_fd_left_behind() -> Iterator[None]:
    before = _open_fds()
    yield
    after = _open_fds()
    if before is not None and after is not None:
        # listdir itself holds one fd while it runs, the same one both times.
        assert after <= before, f"fds left open: {sorted(after - before)}"


@pytest.fixture(params=["tcp4", "tcp6", "unix"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[socket.socket]:
    kind = request.param
    if kind == "tcp4":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
    elif kind == "tcp6":
        if not _ipv6_loopback_works():
            pytest.skip("IPv6 loopback (::1) is not available here")
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.bind(("::1", 0))
    else:
        path = tmp_path / "s"
        if len(os.fsencode(path)) >= 100:
            # sun_path holds about 100 bytes; pytest's tmp_path can be deeper than that.
            short = Path(tempfile.mkdtemp(prefix="pyinetd-"))
            request.addfinalizer(lambda: short.rmdir())
            path = short / "s"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(os.fspath(path))
        request.addfinalizer(lambda: path.unlink(missing_ok=True))
    sock.listen(8)
    with sock:
        yield sock


def _connect(listener: socket.socket) -> socket.socket:
    client = socket.socket(listener.family, socket.SOCK_STREAM)
    client.settimeout(TIMEOUT)
    client.connect(listener.getsockname())
    return client


def _read_exactly(client: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = client.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _run(
    listener: socket.socket,
    server: Callable[[socket.socket], Awaitable[T]],
    client: Callable[[socket.socket], Any],
) -> tuple[T, Any, socket.socket]:
    """Accept one connection for `server` while `client` runs in a thread on its own socket.

    Returns what the server and the client returned, and the server-side socket.
    """

    def client_thread() -> Any:
        with _connect(listener) as sock:
            return client(sock)

    async def main() -> tuple[T, Any, socket.socket]:
        loop = asyncio.get_running_loop()
        listener.setblocking(False)
        client_done = asyncio.ensure_future(asyncio.to_thread(client_thread))
        try:
            conn, _ = await asyncio.wait_for(loop.sock_accept(listener), TIMEOUT)
        except BaseException:
            await asyncio.wait_for(client_done, TIMEOUT)
            raise
        conn.setblocking(False)
        served = await asyncio.wait_for(server(conn), TIMEOUT)
        got = await asyncio.wait_for(client_done, TIMEOUT)
        return served, got, conn

    return asyncio.run(main())


def _serve(name: str) -> Callable[[socket.socket], Awaitable[None]]:
    return lambda conn: serve_stream(name, conn)


# --- B1-B5 of the conformance table -------------------------------------------------------


def test_echo_returns_bytes_then_eof(listener: socket.socket) -> None:
    def client(sock: socket.socket) -> bytes:
        sock.sendall(b"hello\n")
        sock.shutdown(socket.SHUT_WR)
        return read_to_eof(sock)

    _, got, conn = _run(listener, _serve("echo"), client)
    assert got == b"hello\n"
    assert conn.fileno() == -1


def test_echo_large_stream_with_backpressure(listener: socket.socket) -> None:
    payload = os.urandom(4 << 20)

    def client(sock: socket.socket) -> bytes:
        # Write from a second thread: echo only reads as fast as we read its replies.
        def send() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send)
        sender.start()
        try:
            return read_to_eof(sock, limit=len(payload) + 1)
        finally:
            sender.join(TIMEOUT)

    _, got, _ = _run(listener, _serve("echo"), client)
    assert got == payload


def test_discard_swallows_a_megabyte_and_closes_on_eof(listener: socket.socket) -> None:
    def client(sock: socket.socket) -> bytes:
        sock.sendall(b"x" * (1 << 20))
        sock.shutdown(socket.SHUT_WR)
        return read_to_eof(sock)

    _, got, conn = _run(listener, _serve("discard"), client)
    assert got == b""
    assert conn.fileno() == -1


def test_chargen_lines_rotate_and_wrap(listener: socket.socket) -> None:
    def client(sock: socket.socket) -> bytes:
        return _read_exactly(sock, 74 * 97)

    _, got, conn = _run(listener, _serve("chargen"), client)
    lines = [got[i : i + 74] for i in range(0, len(got), 74)]
    assert len(lines) == 97
    assert lines[0] == FIRST_LINE
    assert lines[1].startswith(b"!") and lines[1].endswith(b"\r\n")
    assert lines[94].startswith(b"~ !")
    assert lines[95] == FIRST_LINE
    assert lines[96] == lines[1]
    assert conn.fileno() == -1  # the client went away, so the stream ended


def test_daytime_is_one_ctime_line_then_eof(listener: socket.socket) -> None:
    _, got, conn = _run(listener, _serve("daytime"), read_to_eof)
    assert len(got) == 26
    assert DAYTIME.match(got), got
    assert conn.fileno() == -1


def test_time_is_four_bytes_since_1900_then_eof(listener: socket.socket) -> None:
    _, got, _ = _run(listener, _serve("time"), read_to_eof)
    assert len(got) == 4
    (value,) = struct.unpack("!I", got)
    assert abs(value - 2208988800 - time.time()) <= 2


@pytest.mark.parametrize("name", ["daytime", "time"])
def test_one_shot_reply_survives_a_client_that_talks_first(
    listener: socket.socket, name: str
) -> None:
    def client(sock: socket.socket) -> bytes:
        # Some clients send a line before reading; closing over unread bytes would make
        # the kernel send RST, which can destroy the reply before the client reads it.
        sock.sendall(b"what time is it?\r\n" * 100)
        return read_to_eof(sock)

    async def server(conn: socket.socket) -> None:
        # Start only once the client's bytes are queued, so they are unread at close time.
        loop = asyncio.get_running_loop()
        queued: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not queued.done():
                queued.set_result(None)

        loop.add_reader(conn.fileno(), wake)
        try:
            await queued
        finally:
            loop.remove_reader(conn.fileno())
        await serve_stream(name, conn)

    _, got, _ = _run(listener, server, client)
    assert len(got) == (26 if name == "daytime" else 4)


# --- endings: reset, cancellation, unknown name -------------------------------------------


@pytest.mark.parametrize("name", ["echo", "discard", "chargen"])
def test_peer_reset_ends_the_service_quietly(listener: socket.socket, name: str) -> None:
    def client(sock: socket.socket) -> None:
        sock.sendall(b"some bytes\n")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    # serve_stream returning (not raising) is the assertion; the reset comes when the
    # client's socket closes with linger 0.
    served, _, conn = _run(listener, _serve(name), client)
    assert served is None
    assert conn.fileno() == -1


@pytest.mark.parametrize("name", ["echo", "discard", "chargen"])
def test_cancelled_service_closes_its_socket(listener: socket.socket, name: str) -> None:
    state: dict[str, Any] = {}

    async def server(conn: socket.socket) -> None:
        task = asyncio.create_task(serve_stream(name, conn))
        # Let it run until it waits on the socket (chargen: until the client's buffers fill
        # up, since the client never reads; echo/discard: at once, the client is silent).
        for _ in range(100):
            await asyncio.sleep(0)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        state["closed"] = conn.fileno() == -1

    def client(sock: socket.socket) -> bool:
        # Only the server side closing ends this read; chargen's bytes are thrown away.
        while sock.recv(1 << 20):
            pass
        return True

    _, saw_eof, _ = _run(listener, server, client)
    assert state["closed"]
    assert saw_eof


def test_unknown_stream_name_raises_and_closes(listener: socket.socket) -> None:
    async def server(conn: socket.socket) -> None:
        with pytest.raises(ValueError, match="tcpmux"):
            await serve_stream("tcpmux", conn)

    _, got, conn = _run(listener, server, read_to_eof)
    assert got == b""
    assert conn.fileno() == -1


# --- TCPMUX name line ---------------------------------------------------------------------


def _tcpmux_server(
    timeout: float = TIMEOUT,
) -> Callable[[socket.socket], Awaitable[tuple[str | BaseException, bytes]]]:
    """Read the name, then everything left on the socket, then close it."""

    async def server(conn: socket.socket) -> tuple[str | BaseException, bytes]:
        loop = asyncio.get_running_loop()
        try:
            name: str | BaseException = await read_tcpmux_name(conn, timeout=timeout)
        except (TimeoutError, ValueError, EOFError) as exc:
            conn.close()
            return exc, b""
        rest = bytearray()
        try:
            while chunk := await loop.sock_recv(conn, 65536):
                rest += chunk
        finally:
            conn.close()
        return name, bytes(rest)

    return server


def _sender(*parts: bytes, pause: float = 0.0) -> Callable[[socket.socket], bytes]:
    def client(sock: socket.socket) -> bytes:
        if sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for index, part in enumerate(parts):
            if index and pause:
                # Not a readiness wait: it only makes the parts separate segments.
                time.sleep(pause)
            sock.sendall(part)
        sock.shutdown(socket.SHUT_WR)
        return read_to_eof(sock)

    return client


@pytest.mark.parametrize(
    ("sent", "name", "rest"),
    [
        (b"name\r\nPAYLOAD", "name", b"PAYLOAD"),
        (b"name\nPAYLOAD", "name", b"PAYLOAD"),
        (b"name\0PAYLOAD", "name", b"PAYLOAD"),
        (b"name\rPAYLOAD", "name", b"PAYLOAD"),
        (b"name\r\n\r\nPAYLOAD\r\n", "name", b"\r\nPAYLOAD\r\n"),
        (b"DATE\r\n", "DATE", b""),
        (b"\r\nPAYLOAD", "", b"PAYLOAD"),
        (b"x" * 256 + b"\r\nP", "x" * 256, b"P"),
        (b"caf\xc3\xa9\nP", "caf\u00e9", b"P"),
    ],
)
def test_tcpmux_name_leaves_the_rest_on_the_socket(
    listener: socket.socket, sent: bytes, name: str, rest: bytes
) -> None:
    (got_name, got_rest), _, _ = _run(listener, _tcpmux_server(), _sender(sent))
    assert got_name == name
    assert got_rest == rest


def test_tcpmux_name_across_several_segments(listener: socket.socket) -> None:
    client = _sender(b"na", b"me\r", b"\nPAY", b"LOAD", pause=0.05)
    (got_name, got_rest), _, _ = _run(listener, _tcpmux_server(), client)
    assert got_name == "name"
    assert got_rest == b"PAYLOAD"


def test_tcpmux_help_reply(listener: socket.socket) -> None:
    configured = ["date", "Echo", "rsync"]

    async def server(conn: socket.socket) -> str:
        loop = asyncio.get_running_loop()
        try:
            name = await read_tcpmux_name(conn)
            if name.lower() == "help":
                await loop.sock_sendall(conn, tcpmux_help(configured))
            return name
        finally:
            conn.close()

    name, got, _ = _run(listener, server, _sender(b"HELP\r\n"))
    assert name == "HELP"
    assert got == b"date\r\nEcho\r\nrsync\r\n"


def test_tcpmux_silent_client_times_out(listener: socket.socket) -> None:
    def silent(sock: socket.socket) -> bytes:
        return read_to_eof(sock)

    started = time.monotonic()
    (outcome, _), got, _ = _run(listener, _tcpmux_server(timeout=0.3), silent)
    elapsed = time.monotonic() - started
    assert isinstance(outcome, TimeoutError)
    assert got == b""
    assert 0.25 <= elapsed < 5


def test_tcpmux_slow_partial_name_still_times_out(listener: socket.socket) -> None:
    def dribble(sock: socket.socket) -> bytes:
        sock.sendall(b"nam")
        return read_to_eof(sock)

    (outcome, _), _, _ = _run(listener, _tcpmux_server(timeout=0.3), dribble)
    assert isinstance(outcome, TimeoutError)


@pytest.mark.parametrize("sent", [b"x" * 257 + b"\r\n", b"y" * 300, b"z" * 5000 + b"\n"])
def test_tcpmux_over_long_name_is_refused(listener: socket.socket, sent: bytes) -> None:
    def client(sock: socket.socket) -> bytes:
        sock.sendall(sent)
        try:
            return read_to_eof(sock)
        except ConnectionResetError:
            # The refused line is still unread when the server closes, so the kernel
            # answers with RST; either ending is fine for this test.
            return b""

    (outcome, _), _, _ = _run(listener, _tcpmux_server(), client)
    assert isinstance(outcome, ValueError)


@pytest.mark.parametrize("sent", [b"", b"abc"])
def test_tcpmux_peer_closing_first_is_eof(listener: socket.socket, sent: bytes) -> None:
    (outcome, _), _, _ = _run(listener, _tcpmux_server(), _sender(sent))
    assert isinstance(outcome, EOFError)
