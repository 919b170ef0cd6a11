"""Shared test harness: run pyinetd as a real subprocess on loopback and talk to it.

Readiness comes from the daemon's own log lines (`... listening on ADDR (file:line)` and
`ready: N services listening`), never from a sleep; every wait has a timeout; teardown
stops the daemon and any child it left, and fails the test if a child lingered as a zombie.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PROGRAMS = Path(__file__).parent / "programs"
WAIT = 10.0

_LISTENING = re.compile(r": listening on (\S+) \((.+):(\d+)\)$")


def parse_address(text: str) -> tuple[str, int] | str:
    if text.startswith("/"):
        return text
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def descendants(pid: int) -> list[int]:
    """Direct children of `pid` (pyinetd's children are always direct)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(name))
    return out


def process_state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


class Daemon:
    """One pyinetd process serving a config written from `lines`."""

    def __init__(
        self,
        workdir: Path,
        lines: list[str],
        args: list[str] | None = None,
        wrapper: list[str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.wrapper = wrapper or []
        self.conf = workdir / "inetd.conf"
        self.args = args if args is not None else ["-d"]
        self.write(lines)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.proc: subprocess.Popen[str] | None = None
        self.addresses: dict[int, tuple[str, int] | str] = {}

    def write(self, lines: list[str]) -> None:
        self.conf.write_text("".join(line + "\n" for line in lines))

    def start(self, ready: bool = True) -> Daemon:
        cmd = [*self.wrapper, sys.executable, "-m", "pyinetd", *self.args, str(self.conf)]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.workdir,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if ready:
            self.wait_for(r"ready: \d+ services listening")
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def _take(self, timeout: float) -> str | None:
        line = self._queue.get(timeout=timeout)
        if line is not None:
            self.lines.append(line)
            m = _LISTENING.search(line)
            if m and m.group(2) == str(self.conf):
                self.addresses[int(m.group(3))] = parse_address(m.group(1))
        return line

    def wait_for(self, pattern: str, timeout: float = WAIT) -> str:
        """The next log line (from now on) matching `pattern`."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no log line matching {pattern!r}; log:\n" + self.log())
            try:
                line = self._take(left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"pyinetd exited before {pattern!r}; log:\n" + self.log())
            if rx.search(line):
                return line

    def seen(self, pattern: str) -> bool:
        """Whether any line read so far, or now pending, matches."""
        with contextlib.suppress(queue.Empty):
            while True:
                if self._take(0) is None:
                    break
        return any(re.search(pattern, line) for line in self.lines)

    def log(self) -> str:
        return "\n".join(self.lines)

    def addr(self, line: int) -> tuple[str, int] | str:
        return self.addresses[line]

    def port(self, line: int) -> int:
        a = self.addresses[line]
        assert isinstance(a, tuple)
        return a[1]

    def reload(self, lines: list[str]) -> None:
        self.write(lines)
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)
        self.wait_for(r"reload: \d+ kept|reload: configuration unreadable|reload: .*keeping")

    def children(self) -> list[int]:
        assert self.proc is not None
        return descendants(self.proc.pid)

    def zombies(self) -> list[int]:
        return [p for p in self.children() if process_state(p) == "Z"]

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=WAIT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=WAIT)
        with contextlib.suppress(queue.Empty):
            while self._take(1.0) is not None:
                pass
        return code


@pytest.fixture
def pyinetd(tmp_path: Path) -> Iterator[type[Daemon]]:
    """Factory: `pyinetd(lines, args)` starts a daemon; all are stopped at teardown."""
    started: list[Daemon] = []
    leftovers: list[int] = []

    def make(
        lines: list[str],
        args: list[str] | None = None,
        ready: bool = True,
        wrapper: list[str] | None = None,
    ) -> Daemon:
        d = Daemon(tmp_path, lines, args, wrapper)
        started.append(d)
        return d.start(ready=ready)

    yield make  # type: ignore[misc]
    for d in started:
        if d.proc is None:
            continue
        if d.proc.poll() is None:
            leftovers.extend(d.children())
            d.stop()
        if d.proc.stderr is not None:
            d.proc.stderr.close()
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def tcp_exchange(
    addr: tuple[str, int] | str,
    send: bytes = b"",
    *,
    half_close: bool = True,
    limit: int = 1 << 20,
    timeout: float = WAIT,
) -> bytes:
    """Connect, send, optionally half-close, read to EOF (or `limit` bytes)."""
    family = (
        socket.AF_UNIX
        if isinstance(addr, str)
        else (socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
    )
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(addr)
        if send:
            s.sendall(send)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        return read_to_eof(s, limit)


def read_to_eof(s: socket.socket, limit: int = 1 << 20) -> bytes:
    """Everything the peer sends until it closes, or the first `limit` bytes or more."""
    chunks = []
    got = 0
    while got < limit:
        data = s.recv(65536)
        if not data:
            break
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


def udp_exchange(
    addr: tuple[str, int],
    send: bytes,
    *,
    timeout: float = WAIT,
    source: tuple[str, int] | None = None,
) -> tuple[bytes, tuple[str, int]]:
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        if source is not None:
            s.bind(source)
        s.sendto(send, addr)
        data, peer = s.recvfrom(65536)
        return data, peer


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def wait_until(predicate: object, timeout: float = WAIT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
