"""Reading the RFC 1078 TCPMUX service-name line without taking a byte that is not ours.

Owns only the name line: matching it against the configuration, answering `+Go`, `HELP`
or the refusal, and starting the server are the supervisor's job. The classic inetds read
the line in bulk and lose whatever the client pipelined after it; here every byte after
the terminator stays in the socket for the server that gets it.
"""

from __future__ import annotations

import asyncio
import socket

TCPMUX_TIMEOUT = 10.0
TCPMUX_MAX_NAME = 256
# A CR that arrives alone may be the first half of a CRLF split across segments; waiting
# this long for the LF keeps that LF out of the server's input, and a client that really
# ends lines with a bare CR only pays this once.
_LF_GRACE = 0.5
_TERMINATORS = (b"\r", b"\n", b"\0")


def _terminator_at(data: bytes) -> int:
    found = [i for i in (data.find(t) for t in _TERMINATORS) if i >= 0]
    return min(found) if found else -1


def _recv(sock: socket.socket, size: int, flags: int = 0) -> bytes | None:
    """`recv` that returns None instead of raising when nothing is queued yet."""
    try:
        return sock.recv(size, flags)
    except (BlockingIOError, InterruptedError):
        return None
    except ConnectionError as exc:
        raise EOFError("connection reset before the TCPMUX name line ended") from exc


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = sock.fileno()
    loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


async def _take_line(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> tuple[bytes, bool]:
    """The name and whether its terminator was a CR (an LF may still follow)."""
    name = bytearray()
    while True:
        # Peek one byte past the longest allowed name, so a terminator right after a
        # 256-byte name is still seen and anything longer is known to be too long.
        window = TCPMUX_MAX_NAME + 1 - len(name)
        peeked = _recv(sock, window, socket.MSG_PEEK)
        if peeked is None:
            await _readable(loop, sock)
            continue
        if not peeked:
            raise EOFError("peer closed before ending the TCPMUX name line")
        end = _terminator_at(peeked)
        if end < 0:
            if len(peeked) >= window:
                raise ValueError(f"TCPMUX name line longer than {TCPMUX_MAX_NAME} bytes")
            # Every peeked byte belongs to the name, so taking them all is safe and keeps
            # the next wait from waking at once on bytes that are already known.
            name += _recv(sock, len(peeked)) or b""
            continue
        line = _recv(sock, end + 1) or b""
        name += line[:end]
        return bytes(name), line[end:] == b"\r"


async def _take_lf_after_cr(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    nxt = _recv(sock, 1, socket.MSG_PEEK)
    if nxt is None:
        try:
            async with asyncio.timeout(_LF_GRACE):
                await _readable(loop, sock)
        except TimeoutError:
            return
        nxt = _recv(sock, 1, socket.MSG_PEEK)
    if nxt == b"\n":
        _recv(sock, 1)


async def read_tcpmux_name(sock: socket.socket, timeout: float = TCPMUX_TIMEOUT) -> str:
    """Read the service name a TCPMUX client sends, consuming exactly its line.

    The line ends at CR LF, a bare LF, a bare CR, or NUL (FreeBSD accepts the same set);
    a CR followed by LF consumes both. Raises TimeoutError when no full line arrives within
    `timeout` seconds (FreeBSD's 10 s alarm; GNU waits forever), ValueError for a name over
    256 bytes, and EOFError if the peer closes or resets first. Bytes that are not UTF-8
    are replaced, so such a name matches no configured service.
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        raw, ended_with_cr = await _take_line(loop, sock)
    if ended_with_cr:
        # Outside the deadline: the line is complete, only its optional LF is pending.
        await _take_lf_after_cr(loop, sock)
    return raw.decode("utf-8", errors="replace")
