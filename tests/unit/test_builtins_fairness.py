"""A session whose socket is always ready must still let the rest of the loop run."""

from __future__ import annotations

import asyncio
import socket

import pytest

from pyinetd.builtins import serve_stream


@pytest.mark.parametrize("name", ["chargen", "echo", "discard"])
def test_an_always_ready_socket_does_not_starve_the_loop(name: str) -> None:
    async def scenario() -> tuple[int, int]:
        loop = asyncio.get_running_loop()
        chunks = 0

        # A peer that is always ready: every call completes at once, as asyncio's
        # sock_* calls do when the kernel has data or buffer space.
        async def ready_send(sock: socket.socket, data: bytes) -> None:
            nonlocal chunks
            chunks += 1
            if chunks > 1000:
                raise ConnectionResetError

        async def ready_recv(sock: socket.socket, size: int) -> bytes:
            await ready_send(sock, b"")
            return b"x"

        async def ready_recv_into(sock: socket.socket, buf: bytearray) -> int:
            await ready_send(sock, b"")
            return 1

        loop.sock_sendall = ready_send  # type: ignore[method-assign]
        loop.sock_recv = ready_recv  # type: ignore[method-assign]
        loop.sock_recv_into = ready_recv_into  # type: ignore[method-assign]
        seen: list[int] = []

        async def other_service() -> None:
            seen.append(chunks)

        other = loop.create_task(other_service())
        a, b = socket.socketpair()
        with b:
            a.setblocking(False)
            await serve_stream(name, a)
        await other
        return seen[0], chunks

    first_turn, total = asyncio.run(scenario())
    assert total > 1000
    assert first_turn <= 16  # the other task ran long before the session ended
