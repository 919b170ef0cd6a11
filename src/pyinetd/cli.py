"""The command line: flags, exit codes, and the only place that prints or exits."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence

from pyinetd import __version__, config, core, daemon, limits, logsetup, net, proctitle, spawn
from pyinetd.errors import BindError, PyinetdError
from pyinetd.model import Config

log = logging.getLogger("pyinetd")

DEFAULT_CONFIG = "/etc/inetd.conf"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pyinetd",
        description="An inetd-style super-server. Reads inetd.conf files of every classic "
        "dialect and serves them.",
        epilog="Exit status: 0 success; 64 usage error; 71 another pyinetd holds the "
        "pidfile; 73 the pidfile cannot be created; 78 configuration errors (--check).",
    )
    p.add_argument(
        "configs",
        nargs="*",
        metavar="CONFIG",
        help=f"configuration files or directories (default {DEFAULT_CONFIG})",
    )
    p.add_argument(
        "-d",
        dest="debug",
        action="store_true",
        help="debug: stay in the foreground and log to stderr, with debug detail",
    )
    p.add_argument(
        "--foreground",
        action="store_true",
        help="stay attached to the terminal (for service managers); log to syslog",
    )
    p.add_argument(
        "-l",
        dest="log_connections",
        action="store_true",
        help="log every connection (service, peer, pid)",
    )
    p.add_argument(
        "-a",
        dest="address",
        metavar="ADDRESS",
        help="default bind address (an IPv4 and/or IPv6 address or host name)",
    )
    p.add_argument(
        "-p",
        dest="pidfile",
        metavar="PIDFILE",
        help=f"pidfile (default {daemon.DEFAULT_PIDFILE}; none with -d unless given)",
    )
    p.add_argument(
        "-E",
        "--keep-env",
        dest="keep_env",
        action="store_true",
        help="pass pyinetd's own environment to programs instead of a clean one",
    )
    p.add_argument(
        "-r",
        "--retry",
        dest="retry",
        type=_seconds,
        default=600.0,
        metavar="SECONDS",
        help="how long a looping service stays paused, and how often a listener that "
        "failed to bind is retried (default 600)",
    )
    p.add_argument(
        "-c",
        dest="max_child",
        type=_count,
        default=0,
        metavar="N",
        help="default maximum children per service (default 0 = unlimited)",
    )
    p.add_argument(
        "-C",
        dest="max_conn_per_ip",
        type=_count,
        default=0,
        metavar="N",
        help="default maximum connections per IP per minute (0 = unlimited)",
    )
    p.add_argument(
        "-s",
        dest="max_child_per_ip",
        type=_count,
        default=0,
        metavar="N",
        help="default maximum children per IP (0 = unlimited)",
    )
    p.add_argument(
        "-R",
        dest="rate",
        type=_count,
        default=256,
        metavar="N",
        help="default invocations per service per minute before it is paused as "
        "looping (default 256, 0 = unlimited)",
    )
    p.add_argument(
        "--check", action="store_true", help="check the configuration, print it normalised and exit"
    )
    p.add_argument("--json", action="store_true", help="with --check: print one JSON document")
    p.add_argument("--version", action="version", version=f"pyinetd {__version__}")
    return p


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number >= 0: {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) and os.EX_USAGE
    paths = args.configs or [DEFAULT_CONFIG]
    if args.json and not args.check:
        parser.print_usage(sys.stderr)
        print("pyinetd: --json goes with --check", file=sys.stderr)
        return os.EX_USAGE
    if args.check:
        return check(paths, as_json=args.json)
    return serve(args, paths)


def run() -> None:
    sys.exit(main())


def check(paths: Sequence[str], as_json: bool) -> int:
    cfg = config.load(paths)
    if as_json:
        doc = {
            "services": [config.service_to_dict(s) for s in cfg.services],
            "errors": [config.error_to_dict(e) for e in cfg.errors],
            "notes": [config.error_to_dict(n) for n in cfg.notes],
        }
        print(json.dumps(doc, indent=2))
    else:
        for e in cfg.errors:
            print(f"error: {e}", file=sys.stderr)
        for n in cfg.notes:
            print(f"note: {n}", file=sys.stderr)
        for s in cfg.services:
            print(f"{s.origin}: {config.render(s)}")
        print(
            f"{len(cfg.services)} services, {len(cfg.errors)} errors, {len(cfg.notes)} notes",
            file=sys.stderr,
        )
    return os.EX_CONFIG if cfg.errors else os.EX_OK


def _load(paths: Sequence[str]) -> Config:
    cfg = config.load(paths)
    for e in cfg.errors:
        log.error("%s", e)
    for n in cfg.notes:
        log.info("%s", n)
    return cfg


def serve(args: argparse.Namespace, paths: Sequence[str]) -> int:
    foreground = args.debug or args.foreground
    # Detached, the working directory is "/": relative paths must not change meaning.
    paths = [os.path.abspath(p) for p in paths]
    # Like FreeBSD's LOG_PERROR: until pyinetd serves, messages also reach the terminal.
    logsetup.configure(stderr=True, syslog=not args.debug, debug=args.debug)
    if not args.debug and not logsetup.syslog_available():
        print(
            f"pyinetd: no syslog socket ({logsetup.syslog_path()}): "
            + ("logging to stderr" if foreground else "once detached, nothing is logged"),
            file=sys.stderr,
        )
    # A SIGTERM before the loop's handlers exist still leaves through the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    spawn.reset_inherited_state()
    try:
        bind_default = net.resolve_bind_address(args.address) if args.address else None
    except BindError as exc:
        print(f"pyinetd: {exc}", file=sys.stderr)
        return os.EX_USAGE
    pidfile = None
    if args.pidfile or not args.debug:
        pidfile = daemon.Pidfile(os.path.abspath(args.pidfile or daemon.DEFAULT_PIDFILE))
        try:
            pidfile.acquire()
        except daemon.AlreadyRunning as exc:
            print(f"pyinetd: {exc}", file=sys.stderr)
            return os.EX_OSERR
        except OSError as exc:
            print(f"pyinetd: {pidfile.path}: {exc.strerror}", file=sys.stderr)
            return os.EX_CANTCREAT
    options = core.Options(
        log_connections=args.log_connections,
        bind=bind_default or net.BindAddresses(),
        keep_env=args.keep_env,
        defaults=limits.Defaults(
            max_child=args.max_child,
            max_conn_per_ip_per_minute=args.max_conn_per_ip,
            max_child_per_ip=args.max_child_per_ip,
            max_per_minute=args.rate,
            retry_interval=args.retry,
        ),
    )
    try:
        sup = core.Supervisor(_load(paths), options)
        sup.bind_all()
        if not args.debug:
            # The syslog socket is closed here, not behind logging's back: python-daemon
            # closes every descriptor it is not told to keep.
            logsetup.configure(stderr=foreground, syslog=False)
        if not foreground:
            keep = sup.fds() + ([pidfile.fd] if pidfile else [])
            daemon.detach(keep)
        if not args.debug:
            logsetup.configure(stderr=not logsetup.syslog_available(), syslog=True)
        if pidfile is not None:
            pidfile.write()
        asyncio.run(_serve(sup, paths))
    finally:
        if pidfile is not None:
            pidfile.release()
    return os.EX_OK


async def _serve(sup: core.Supervisor, paths: Sequence[str]) -> None:
    loop = asyncio.get_running_loop()
    title = ",".join(paths)

    def reload() -> None:
        log.info("reload: SIGHUP received, reading %s", title)
        try:
            sup.reload(config.load(paths))
        except PyinetdError as exc:
            log.error("reload: %s; keeping the running services", exc)
        proctitle.show(len(sup.runtimes), sup.children(), title)

    core.install_signal_handlers(loop, sup, reload)
    sup.on_change = lambda: proctitle.show(len(sup.runtimes), sup.children(), title)
    proctitle.show(len(sup.runtimes), 0, title)
    await sup.serve()
