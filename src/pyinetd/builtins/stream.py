"""Stream built-ins served in-process on the running event loop, one task per connection.

Owns the per-connection I/O of echo, discard, chargen, daytime and time over TCP or UNIX
stream sockets. It takes an accepted socket and always closes it; it must not accept,
decide access, count limits or log per connection (the supervisor does all of that).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

from pyinetd.builtins.formats import CHARGEN_PERIOD, daytime_bytes, time_bytes

# Large enough that a bulk sender costs few wake-ups; asyncio allocates a fresh buffer per
# recv, so going much bigger only wastes memory on idle connections.
_RECV_SIZE = 65536
# Bytes still unread when a socket is closed make the kernel answer with RST instead of
# FIN, and an RST can destroy a reply the client has not read yet. Draining is bounded so
# a client that floods a one-shot service cannot keep the task busy.
_DRAIN_LIMIT = 1 << 20


# loop.sock_recv and loop.sock_sendall return without giving the loop a turn whenever the
# socket is ready, so a client that kept one always ready (a chargen reader faster than
# pyinetd, an echo flood) could starve every other service. The loops below yield every
# few chunks; short sessions never pay for it.
_CHUNKS_PER_TURN = 8


async def _echo(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    turn = 0
    while data := await loop.sock_recv(sock, _RECV_SIZE):
        await loop.sock_sendall(sock, data)
        turn += 1
        if turn % _CHUNKS_PER_TURN == 0:
            await asyncio.sleep(0)


async def _discard(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    buf = bytearray(_RECV_SIZE)
    turn = 0
    while await loop.sock_recv_into(sock, buf):
        turn += 1
        if turn % _CHUNKS_PER_TURN == 0:
            await asyncio.sleep(0)


async def _chargen(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    # Runs until a send fails: the client ends the service by going away, as RFC 864 says.
    turn = 0
    while True:
        await loop.sock_sendall(sock, CHARGEN_PERIOD)
        turn += 1
        if turn % _CHUNKS_PER_TURN == 0:
            await asyncio.sleep(0)


def _drain_pending(sock: socket.socket) -> None:
    drained = 0
    try:
        while drained < _DRAIN_LIMIT:
            chunk = sock.recv(_RECV_SIZE)
            if not chunk:
                return
            drained += len(chunk)
    except OSError:
        # BlockingIOError is the normal end: nothing more is queued.
        return


_ONE_SHOT: dict[str, Callable[[], bytes]] = {"daytime": daytime_bytes, "time": time_bytes}


def answer_now(name: str, sock: socket.socket) -> bool:
    """Serve daytime or time at once, without a task: the reply (at most 26 bytes) always
    fits in a new connection's send buffer. Closes `sock` and returns True when `name` is
    one of them; returns False, touching nothing, otherwise."""
    reply = _ONE_SHOT.get(name)
    if reply is None:
        return False
    try:
        # The reply and our FIN in one segment, as FreeBSD's send(MSG_EOF): MSG_MORE holds
        # the bytes back until the shutdown flushes both, one packet and one wake-up of
        # the client fewer. Shutting down before closing means a client that is still
        # sending gets no RST for bytes it sent before reading.
        sock.send(reply(), socket.MSG_MORE)
        sock.shutdown(socket.SHUT_WR)
        _drain_pending(sock)
    except OSError:
        pass
    finally:
        sock.close()
    return True


async def _daytime(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    answer_now("daytime", sock)


async def _time(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    answer_now("time", sock)


_HANDLERS: dict[str, Callable[[asyncio.AbstractEventLoop, socket.socket], Awaitable[None]]] = {
    "echo": _echo,
    "discard": _discard,
    "chargen": _chargen,
    "daytime": _daytime,
    "time": _time,
}


async def serve_stream(name: str, sock: socket.socket) -> None:
    """Serve one accepted, non-blocking stream connection with the built-in `name`.

    The socket is closed on every path. Client behaviour (EOF, reset, broken pipe) never
    raises; cancellation propagates after the close; an unknown `name` is a caller bug and
    raises ValueError (after the close too).
    """
    try:
        handler = _HANDLERS.get(name)
        if handler is None:
            raise ValueError(f"no stream built-in named {name!r}")
        await handler(asyncio.get_running_loop(), sock)
    except OSError:
        # Resets, broken pipes and timeouts from the peer are the normal end of a session
        # for these services; there is nobody to report them to.
        pass
    finally:
        sock.close()
