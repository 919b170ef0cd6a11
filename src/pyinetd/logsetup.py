"""Logging plumbing: syslog (facility daemon, ident pyinetd) or stderr.

Only configures handlers; messages themselves come from the modules that log them.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys

_FORMAT_STDERR = "%(asctime)s pyinetd[%(process)d]: %(levelname)s: %(message)s"


def configure(*, stderr: bool, syslog: bool, debug: bool = False) -> list[str]:
    """Replace the root handlers; returns warnings (e.g. no syslog socket) to log later."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
        h.close()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    # asyncio's own debug lines (which selector it chose) say nothing about services.
    logging.getLogger("asyncio").setLevel(logging.INFO)
    problems: list[str] = []
    if syslog:
        handler = _syslog_handler()
        if handler is None:
            problems.append("no syslog socket (/dev/log); logging to stderr")
            stderr = True
        else:
            root.addHandler(handler)
    if stderr:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter(_FORMAT_STDERR, "%Y-%m-%d %H:%M:%S"))
        root.addHandler(h)
    return problems


def _syslog_handler() -> logging.Handler | None:
    for path in ("/dev/log", "/var/run/syslog"):
        if os.path.exists(path):
            try:
                handler = logging.handlers.SysLogHandler(
                    address=path, facility=logging.handlers.SysLogHandler.LOG_DAEMON
                )
            except OSError:
                continue
            handler.ident = f"pyinetd[{os.getpid()}]: "
            handler.setFormatter(logging.Formatter("%(message)s"))
            return handler
    return None
