"""Logging plumbing: syslog (facility daemon, ident pyinetd) or stderr.

Only configures handlers; messages themselves come from the modules that log them.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

_FORMAT_STDERR = "%(asctime)s pyinetd[%(process)d]: %(levelname)s: %(message)s"


def syslog_path() -> str:
    """The syslog socket: /dev/log, or $PYINETD_SYSLOG_SOCKET (another syslog daemon's
    socket, or a test's)."""
    return os.environ.get("PYINETD_SYSLOG_SOCKET", "/dev/log")


def syslog_available() -> bool:
    return os.path.exists(syslog_path())


def configure(*, stderr: bool, syslog: bool, debug: bool = False) -> None:
    """Replace the root handlers. Without a syslog socket, syslog output goes to stderr."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # asyncio's own debug lines (which selector it chose) say nothing about services.
    logging.getLogger("asyncio").setLevel(logging.INFO)
    if syslog:
        handler = _syslog_handler()
        if handler is None:
            stderr = True
        else:
            root.addHandler(handler)
    if stderr:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter(_FORMAT_STDERR, "%Y-%m-%d %H:%M:%S"))
        root.addHandler(h)


def _syslog_handler() -> logging.Handler | None:
    path = syslog_path()
    if not os.path.exists(path):
        return None
    try:
        handler = logging.handlers.SysLogHandler(
            address=path, facility=logging.handlers.SysLogHandler.LOG_DAEMON
        )
    except OSError:
        return None
    handler.ident = f"pyinetd[{os.getpid()}]: "
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler
