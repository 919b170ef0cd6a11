"""The stock inetd.conf files of FreeBSD, OpenBSD and Debian (our own copies of their
entries, in tests/data/) parse to the services those daemons would run."""

# The expected tables keep one entry per row, as in the files, so some rows are long.
# ruff: noqa: E501

from __future__ import annotations

from pathlib import Path

import pytest

from pyinetd.config import load, render
from pyinetd.config.inetd import parse
from pyinetd.config.resolve import StaticResolver
from pyinetd.model import Family, Limits, Service

DATA = Path(__file__).resolve().parents[1] / "data"

PORTS = {
    ("tcpmux", "tcp"): 1,
    ("echo", "tcp"): 7,
    ("echo", "udp"): 7,
    ("discard", "tcp"): 9,
    ("discard", "udp"): 9,
    ("daytime", "tcp"): 13,
    ("daytime", "udp"): 13,
    ("chargen", "tcp"): 19,
    ("chargen", "udp"): 19,
    ("ftp", "tcp"): 21,
    ("ssh", "tcp"): 22,
    ("telnet", "tcp"): 23,
    ("time", "tcp"): 37,
    ("time", "udp"): 37,
    ("bootps", "udp"): 67,
    ("tftp", "udp"): 69,
    ("finger", "tcp"): 79,
    ("auth", "tcp"): 113,
    ("ident", "tcp"): 113,
    ("comsat", "udp"): 512,
    ("biff", "udp"): 512,
    ("login", "tcp"): 513,
    ("shell", "tcp"): 514,
    ("talk", "udp"): 517,
    ("ntalk", "udp"): 518,
    ("swat", "tcp"): 901,
}
OFFICIAL = {"ident": "auth", "biff": "comsat"}
PROGRAMS = {
    "/usr/libexec/ftpd",
    "/usr/sbin/sshd",
    "/usr/libexec/telnetd",
    "/usr/libexec/rshd",
    "/usr/libexec/rlogind",
    "/usr/libexec/fingerd",
    "/usr/libexec/comsat",
    "/usr/libexec/ntalkd",
    "/usr/libexec/tftpd",
    "/usr/libexec/bootpd",
    "/usr/libexec/rpc.rstatd",
    "/usr/libexec/rpc.rusersd",
    "/usr/libexec/rpc.rwalld",
    "/usr/libexec/rpc.rquotad",
    "/usr/libexec/rpc.sprayd",
    "/bin/date",
    "/usr/local/bin/phonebook",
    "/usr/libexec/identd",
    "/usr/sbin/tcpd",
    "/usr/sbin/in.talkd",
    "/usr/sbin/in.ntalkd",
    "/usr/sbin/identd",
    "/usr/sbin/in.tftpd",
}
RESOLVER = StaticResolver(
    services={key: (port, OFFICIAL.get(key[0], key[0])) for key, port in PORTS.items()},
    users={"root": "wheel", "nobody": "nogroup", "tty": "tty", "guest": "guest"}
    | {"_identd": "_identd", "identd": "nogroup"},
    groups={"wheel", "nogroup", "tty", "guest", "_identd"},
    programs=PROGRAMS,
    hosts={("localhost", Family.INET): ["127.0.0.1"], ("localhost", Family.INET6): ["::1"]},
)

# What a daemon runs for one entry: where it listens, how, as whom, and what.
Row = tuple[str, str, str, bool, str, str | None, str, tuple[str, ...], Limits]


def row(s: Service) -> Row:
    where = str(s.listen) if s.listen is not None else f"tcpmux:{s.tcpmux}"
    what = s.program.path if s.program else f"internal:{s.builtin.name if s.builtin else ''}"
    argv = s.program.argv if s.program else s.builtin.args if s.builtin else ()
    return (s.label, where, s.socket_type.value, s.wait, s.user, s.group, what, argv, s.limits)


NONE = Limits()


def pair(name: str, port: int, user: str, path: str, argv: str, limits: Limits = NONE) -> list[Row]:
    """An IPv4 and an IPv6 stream entry of the same program (the BSD idiom)."""
    return [
        (
            f"{name}/{proto}",
            f"*:{port}",
            "stream",
            False,
            user,
            None,
            path,
            tuple(argv.split()),
            limits,
        )
        for proto in ("tcp", "tcp6")
    ]


def small_servers(names: list[str], dgram: bool, v6: bool) -> list[Row]:
    ports = {"daytime": 13, "time": 37, "echo": 7, "discard": 9, "chargen": 19}
    rows: list[Row] = []
    for name in names:
        kinds = [("stream", "tcp")] + ([("dgram", "udp")] if dgram else [])
        for socktype, proto in kinds:
            for version in ("", "6") if v6 else ("",):
                rows.append(
                    (
                        f"{name}/{proto}{version}",
                        f"*:{ports[name]}",
                        socktype,
                        False,
                        "root",
                        None,
                        f"internal:{name}",
                        (),
                        NONE,
                    )
                )
    return rows


def rpc(name: str, versions: str, user: str, group: str | None, prog: str) -> Row:
    return (
        f"{name}/{versions}/rpc/udp",
        "*:0",
        "dgram",
        True,
        user,
        group,
        prog,
        (prog.rsplit("/", 1)[-1],),
        NONE,
    )


FREEBSD: list[Row] = [
    *pair("ftp", 21, "root", "/usr/libexec/ftpd", "ftpd -l"),
    ("ssh/tcp", "*:22", "stream", False, "root", None, "/usr/sbin/sshd", ("sshd", "-i", "-4"), NONE),
    ("ssh/tcp6", "*:22", "stream", False, "root", None, "/usr/sbin/sshd", ("sshd", "-i", "-6"), NONE),
    *pair("telnet", 23, "root", "/usr/libexec/telnetd", "telnetd"),
    *pair("shell", 514, "root", "/usr/libexec/rshd", "rshd"),
    *pair("login", 513, "root", "/usr/libexec/rlogind", "rlogind"),
    *pair("finger", 79, "nobody", "/usr/libexec/fingerd", "fingerd -k -s", Limits(3, 10)),
    ("comsat/udp", "*:512", "dgram", True, "tty", "tty", "/usr/libexec/comsat", ("comsat",), NONE),
    ("ntalk/udp", "*:518", "dgram", True, "tty", "tty", "/usr/libexec/ntalkd", ("ntalkd",), NONE),
    ("tftp/udp", "*:69", "dgram", True, "root", None, "/usr/libexec/tftpd", ("tftpd", "-l", "-s", "/tftpboot"), NONE),
    ("tftp/udp6", "*:69", "dgram", True, "root", None, "/usr/libexec/tftpd", ("tftpd", "-l", "-s", "/tftpboot"), NONE),
    ("bootps/udp", "*:67", "dgram", True, "root", None, "/usr/libexec/bootpd", ("bootpd",), NONE),
    *small_servers(["daytime", "time", "echo", "discard", "chargen"], dgram=True, v6=True),
    rpc("rstatd", "1-3", "root", None, "/usr/libexec/rpc.rstatd"),
    rpc("rusersd", "1-2", "root", None, "/usr/libexec/rpc.rusersd"),
    rpc("walld", "1", "tty", "tty", "/usr/libexec/rpc.rwalld"),
    rpc("rquotad", "1", "root", None, "/usr/libexec/rpc.rquotad"),
    rpc("sprayd", "1", "root", None, "/usr/libexec/rpc.sprayd"),
    ("tcpmux/tcp", "*:1", "stream", False, "root", None, "internal:tcpmux", (), NONE),
    (
        "tcpmux/+date/tcp",
        "tcpmux:Tcpmux(name='date', plus=True)",
        "stream", False, "guest", None, "/bin/date", ("date",), NONE,
    ),
    (
        "tcpmux/phonebook/tcp",
        "tcpmux:Tcpmux(name='phonebook', plus=False)",
        "stream", False, "guest", None, "/usr/local/bin/phonebook", ("phonebook",), NONE,
    ),
]  # fmt: skip

OPENBSD: list[Row] = [
    ("127.0.0.1:comsat/udp", "127.0.0.1:512", "dgram", True, "root", None, "/usr/libexec/comsat", ("comsat",), NONE),
    ("[::1]:comsat/udp6", "[::1]:512", "dgram", True, "root", None, "/usr/libexec/comsat", ("comsat",), NONE),
    *small_servers(["daytime", "time"], dgram=False, v6=True),
    *pair("ident", 113, "_identd", "/usr/libexec/identd", "identd -el"),
]  # fmt: skip

DEBIAN: list[Row] = [
    ("discard/tcp", "*:9", "stream", False, "root", None, "internal:discard", (), NONE),
    ("discard/udp", "*:9", "dgram", False, "root", None, "internal:discard", (), NONE),
    ("daytime/tcp", "*:13", "stream", False, "root", None, "internal:daytime", (), NONE),
    ("time/tcp", "*:37", "stream", False, "root", None, "internal:time", (), NONE),
    ("telnet/tcp", "*:23", "stream", False, "root", None, "/usr/sbin/tcpd", ("/usr/sbin/in.telnetd",), NONE),
    ("ftp/tcp", "*:21", "stream", False, "root", None, "/usr/sbin/tcpd", ("/usr/sbin/in.ftpd",), NONE),
    ("talk/udp4", "*:517", "dgram", True, "nobody", "tty", "/usr/sbin/in.talkd", ("in.talkd",), NONE),
    ("ntalk/udp4", "*:518", "dgram", True, "nobody", "tty", "/usr/sbin/in.ntalkd", ("in.ntalkd",), NONE),
    ("ident/tcp", "*:113", "stream", False, "identd", None, "/usr/sbin/identd", ("identd",), NONE),
    ("finger/tcp", "*:79", "stream", False, "nobody", None, "/usr/sbin/tcpd", ("/usr/sbin/in.fingerd",), NONE),
    ("tftp/udp4", "*:69", "dgram", True, "root", None, "/usr/sbin/in.tftpd", ("/usr/sbin/in.tftpd", "-s", "/srv/tftp"), NONE),
    ("swat/tcp", "*:901", "stream", False, "root", None, "/usr/sbin/tcpd", ("/usr/sbin/swat",), Limits(max_per_minute=400)),
    ("127.0.0.1:1111/tcp4", "127.0.0.1:1111", "stream", False, "nobody", None, "/usr/sbin/tcpd", ("/usr/sbin/try-from",), NONE),
]  # fmt: skip

CASES = {"freebsd": FREEBSD, "openbsd": OPENBSD, "debian": DEBIAN}


@pytest.mark.parametrize("name", sorted(CASES))
def test_stock_file_parses_to_what_the_daemon_runs(name: str) -> None:
    path = str(DATA / f"{name}-inetd.conf")
    config = load([path], RESOLVER)
    assert config.errors == ()
    assert [row(s) for s in config.services] == CASES[name]
    assert config.notes == ()


@pytest.mark.parametrize("name", sorted(CASES))
def test_stock_file_renders_back_to_itself(name: str) -> None:
    config = load([str(DATA / f"{name}-inetd.conf")], RESOLVER)
    text = "".join(render(s) + "\n" for s in config.services)
    again = parse(text, "rendered", RESOLVER)
    assert again.errors == ()
    assert [row(s) for s in again.services] == CASES[name]


def test_all_three_together_clash_where_they_share_endpoints() -> None:
    paths = [str(DATA / f"{name}-inetd.conf") for name in ("freebsd", "openbsd", "debian")]
    config = load(paths, RESOLVER)
    # OpenBSD and Debian repeat some of FreeBSD's endpoints; Debian also repeats OpenBSD's
    # ident/tcp. Each repeat names the entry that was kept.
    assert [
        (Path(e.origin.file).name, e.label, e.message.split(" at ")[-1]) for e in config.errors
    ] == [
        ("openbsd-inetd.conf", "daytime/tcp", f"{paths[0]}:27"),
        ("openbsd-inetd.conf", "daytime/tcp6", f"{paths[0]}:28"),
        ("openbsd-inetd.conf", "time/tcp", f"{paths[0]}:31"),
        ("openbsd-inetd.conf", "time/tcp6", f"{paths[0]}:32"),
        ("debian-inetd.conf", "discard/tcp", f"{paths[0]}:39"),
        ("debian-inetd.conf", "discard/udp", f"{paths[0]}:41"),
        ("debian-inetd.conf", "daytime/tcp", f"{paths[0]}:27"),
        ("debian-inetd.conf", "time/tcp", f"{paths[0]}:31"),
        ("debian-inetd.conf", "telnet/tcp", f"{paths[0]}:10"),
        ("debian-inetd.conf", "ftp/tcp", f"{paths[0]}:6"),
        ("debian-inetd.conf", "ntalk/udp4", f"{paths[0]}:21"),
        ("debian-inetd.conf", "ident/tcp", f"{paths[1]}:10"),
        ("debian-inetd.conf", "finger/tcp", f"{paths[0]}:16"),
        ("debian-inetd.conf", "tftp/udp4", f"{paths[0]}:22"),
    ]
    assert len(config.services) == len(FREEBSD) + len(OPENBSD) + len(DEBIAN) - 14
