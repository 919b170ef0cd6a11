"""Detaching from the terminal and the locked pidfile.

The pidfile is opened and locked before detaching (so a second pyinetd is refused while
still attached to the terminal) and the pid is written after; the lock lives on the open
file, which the detached process keeps, and it goes away with the process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable

from pyinetd.errors import PyinetdError

DEFAULT_PIDFILE = "/var/run/pyinetd.pid"


class AlreadyRunning(PyinetdError):
    pass


class Pidfile:
    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def acquire(self) -> None:
        """Open and lock; raises AlreadyRunning (with the holder's pid) or OSError."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            finally:
                os.close(fd)
            raise AlreadyRunning(f"{self.path}: already running, pid {holder}") from None
        self.fd = fd

    def write(self) -> None:
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = -1


def detach(keep_fds: Iterable[int]) -> None:
    """Become a daemon with python-daemon, keeping the listeners and the pidfile open.

    The signal map is emptied: python-daemon would otherwise ignore SIGTSTP, SIGTTIN and
    SIGTTOU, and ignored signals survive exec into every child. The umask and working
    directory follow daemon(3) as the C inetds call it: "/" and the umask unchanged.
    """
    import daemon as python_daemon

    umask = os.umask(0)
    os.umask(umask)
    ctx = python_daemon.DaemonContext(
        files_preserve=list(keep_fds),
        signal_map={},
        umask=umask,
        working_directory="/",
        detach_process=True,
        prevent_core=False,  # RLIMIT_CORE would be inherited by every child
    )
    ctx.open()
