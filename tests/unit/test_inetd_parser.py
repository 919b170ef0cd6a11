"""Table-driven tests of the inetd.conf parser: every form, every error, exact messages."""

from __future__ import annotations

from typing import Any

import pytest

from pyinetd.config import render
from pyinetd.config.inetd import parse, parse_protocol, tokenize
from pyinetd.config.resolve import StaticResolver, SystemResolver
from pyinetd.errors import ConfigError, ConfigNote
from pyinetd.model import (
    Builtin,
    Config,
    Family,
    Limits,
    ListenAddress,
    Origin,
    Program,
    Protocol,
    Rpc,
    Service,
    SocketType,
    Tcpmux,
)

F = "inetd.conf"
SERVICES = {
    ("echo", "tcp"): (7, "echo"),
    ("echo", "udp"): (7, "echo"),
    ("discard", "tcp"): (9, "discard"),
    ("daytime", "tcp"): (13, "daytime"),
    ("chargen", "tcp"): (19, "chargen"),
    ("source", "tcp"): (19, "chargen"),
    ("chargen", "udp"): (19, "chargen"),
    ("ftp", "tcp"): (21, "ftp"),
    ("time", "tcp"): (37, "time"),
    ("tcpmux", "tcp"): (1, "tcpmux"),
    ("finger", "tcp"): (79, "finger"),
    ("tftp", "udp"): (69, "tftp"),
    ("ident", "tcp"): (113, "auth"),
    ("foo", "tcp"): (9999, "foo"),
}
USERS = {"root": "wheel", "nobody": "nogroup", "news": "news", "first.last": "staff"}
GROUPS = {"wheel", "nogroup", "news", "daemon", "staff", "tty"}
PROGRAMS = {"/x", "/usr/libexec/ftpd", "/bin/foo", "/bin/date", "/usr/libexec/rpc.rstatd"}
HOSTS = {
    ("localhost", Family.INET): ["127.0.0.1"],
    ("localhost", Family.INET6): ["::1"],
    ("two.example", Family.INET): ["192.0.2.1", "192.0.2.2"],
}
RESOLVER = StaticResolver(SERVICES, USERS, GROUPS, PROGRAMS, HOSTS)


def load(text: str) -> Config:
    return parse(text, F, RESOLVER)


def one(text: str) -> Service:
    config = load(text)
    assert config.errors == ()
    assert len(config.services) == 1, config.services
    return config.services[0]


def inet(host: str = "*", port: int = 7, family: Family = Family.INET) -> ListenAddress:
    return ListenAddress(family, host, port)


# ------------------------------------------------------------------------ good lines

# (line, {attribute: expected}) -- attributes of the one Service the line yields.
GOOD: list[tuple[str, dict[str, Any]]] = [
    # P1
    (
        "echo stream tcp nowait root internal",
        {
            "service": "echo",
            "builtin": Builtin("echo"),
            "program": None,
            "socket_type": SocketType.STREAM,
            "protocol": Protocol.TCP,
            "listen": inet(),
            "wait": False,
            "user": "root",
            "group": None,
            "limits": Limits(),
        },
    ),
    # P2
    (
        "ftp\tstream\ttcp\tnowait\troot\t/usr/libexec/ftpd\tftpd -l",
        {"program": Program("/usr/libexec/ftpd", ("ftpd", "-l")), "listen": inet(port=21)},
    ),
    # P5: '#' after column 1 is an argument
    (
        "ftp stream tcp nowait root /x ftpd -l # note",
        {"program": Program("/x", ("ftpd", "-l", "#", "note"))},
    ),
    # P6: continuation lines
    (
        "ftp stream tcp nowait root /x ftpd\n\t-l -A",
        {"program": Program("/x", ("ftpd", "-l", "-A"))},
    ),
    ("ftp stream tcp\n nowait root\n\t/x ftpd", {"program": Program("/x", ("ftpd",))}),
    ("ftp stream tcp nowait root /x ftpd\n \t \n\t-l", {"program": Program("/x", ("ftpd", "-l"))}),
    # P7: quoting
    (
        "ftp stream tcp nowait root /x x \"a b\" 'c d'",
        {"program": Program("/x", ("x", "a b", "c d"))},
    ),
    (
        "ftp stream tcp nowait root /x x '' a\"b \"it's\"",
        {"program": Program("/x", ("x", "", 'a"b', "it's"))},
    ),
    ('ftp stream tcp nowait root /x x "a b"c', {"program": Program("/x", ("x", "a b", "c"))}),
    # P9..P13: wait field
    ("ftp stream tcp nowait/10/5/2 root /x x", {"wait": False, "limits": Limits(10, 5, 2)}),
    ("ftp stream tcp nowait/10 root /x x", {"limits": Limits(max_child=10)}),
    ("ftp stream tcp nowait/0/0/0 root /x x", {"limits": Limits(0, 0, 0)}),
    ("ftp stream tcp nowait/32767 root /x x", {"limits": Limits(max_child=32767)}),
    ("ftp stream tcp nowait.400 root /x x", {"limits": Limits(max_per_minute=400)}),
    ("ftp stream tcp nowait:40 root /x x", {"limits": Limits(max_per_minute=40)}),
    ("ftp stream tcp nowait.0 root /x x", {"limits": Limits(max_per_minute=0)}),
    ("ftp stream tcp nowait/10/5.400 root /x x", {"limits": Limits(10, 5, None, 400)}),
    ("tftp dgram udp wait/1 root /x x", {"wait": True, "limits": Limits(max_child=1)}),
    ("tftp dgram udp wait root /x x", {"wait": True, "limits": Limits()}),
    # P15..P17: users
    ("ftp stream tcp nowait nobody:nogroup /x x", {"user": "nobody", "group": "nogroup"}),
    (
        "ftp stream tcp nowait nobody:nogroup/daemon /x x",
        {"user": "nobody", "group": "nogroup", "login_class": "daemon"},
    ),
    ("ftp stream tcp nowait nobody/daemon /x x", {"user": "nobody", "login_class": "daemon"}),
    ("ftp stream tcp nowait nobody.nogroup /x x", {"user": "nobody", "group": "nogroup"}),
    ("ftp stream tcp nowait first.last /x x", {"user": "first.last", "group": None}),
    ("ftp stream tcp nowait first.last:staff /x x", {"user": "first.last", "group": "staff"}),
    # P18: protocols
    ("echo stream tcp4 nowait root internal", {"listen": inet(), "proto_name": "tcp4"}),
    ("echo stream tcp6 nowait root internal", {"listen": inet(family=Family.INET6)}),
    ("echo stream tcp46 nowait root internal", {"listen": inet(family=Family.DUAL)}),
    ("echo stream tcp64 nowait root internal", {"listen": inet(family=Family.DUAL)}),
    (
        "echo dgram udp46 wait root internal",
        {"listen": inet(family=Family.DUAL), "protocol": Protocol.UDP},
    ),
    ("echo dgram udp6 wait root internal", {"listen": inet(family=Family.INET6)}),
    # P19, P22: host prefixes
    ("127.0.0.1:echo stream tcp nowait root internal", {"listen": inet("127.0.0.1")}),
    ("[::1]:echo stream tcp6 nowait root internal", {"listen": inet("::1", family=Family.INET6)}),
    ("::1:echo stream tcp6 nowait root internal", {"listen": inet("::1", family=Family.INET6)}),
    ("*:echo stream tcp nowait root internal", {"listen": inet()}),
    (":echo stream tcp nowait root internal", {"listen": inet()}),
    ("localhost:echo stream tcp nowait root internal", {"listen": inet("127.0.0.1")}),
    (
        "localhost:echo stream tcp6 nowait root internal",
        {"listen": inet("::1", family=Family.INET6)},
    ),
    (
        "[0:0::1]:echo stream tcp46 nowait root internal",
        {"listen": inet("::1", family=Family.DUAL)},
    ),
    (
        "127.0.0.1: echo stream tcp nowait root internal",
        {"listen": inet("127.0.0.1"), "service": "echo"},
    ),
    # P23: numeric ports, port 0
    ("12345 stream tcp nowait root /x x", {"listen": inet(port=12345), "service": "12345"}),
    ("0 stream tcp nowait root /x x", {"listen": inet(port=0)}),
    # P26: builtins are nowait; aliases pick the builtin (FreeBSD)
    ("echo stream tcp wait root internal", {"wait": False}),
    ("echo dgram udp wait root internal", {"wait": False, "protocol": Protocol.UDP}),
    (
        "source stream tcp nowait root internal",
        {"builtin": Builtin("chargen"), "listen": inet(port=19)},
    ),
    (
        "tcpmux stream tcp nowait root internal",
        {"builtin": Builtin("tcpmux"), "listen": inet(port=1)},
    ),
    ("daytime stream tcp nowait root internal -x y", {"builtin": Builtin("daytime", ("-x", "y"))}),
    # P27: tcpmux
    (
        "tcpmux/+date stream tcp nowait nobody /bin/date date",
        {"listen": None, "tcpmux": Tcpmux("date", True), "service": "tcpmux/+date"},
    ),
    (
        "tcpmux/date stream tcp6 wait nobody /bin/date date",
        {"tcpmux": Tcpmux("date", False), "wait": False},
    ),
    # P29: RPC
    (
        "rstatd/1-3 dgram rpc/udp wait root /usr/libexec/rpc.rstatd rpc.rstatd",
        {"rpc": Rpc("rstatd", 1, 3), "listen": inet(port=0), "protocol": Protocol.RPC_UDP},
    ),
    ("walld/1 dgram rpc/udp wait root /x x", {"rpc": Rpc("walld", 1, 1)}),
    ("walld dgram rpc/udp wait root /x x", {"rpc": Rpc("walld", 1, 1)}),
    (
        "mountd/2 stream rpc/tcp6 nowait root /x x",
        {
            "rpc": Rpc("mountd", 2, 2),
            "listen": inet(port=0, family=Family.INET6),
            "protocol": Protocol.RPC_TCP,
        },
    ),
    # P30, P31: UNIX sockets
    (
        "/var/run/echo stream unix nowait root internal",
        {
            "listen": ListenAddress(Family.UNIX, path="/var/run/echo"),
            "builtin": Builtin("echo"),
            "service": "/var/run/echo",
        },
    ),
    (
        ":news:daemon:220:/var/run/sock stream unix nowait root /x x",
        {
            "listen": ListenAddress(
                Family.UNIX, path="/var/run/sock", owner="news", group="daemon", mode=0o220
            ),
            "service": "/var/run/sock",
        },
    ),
    ("/" + "a" * 106 + " stream unix nowait root /x x", {"service": "/" + "a" * 106}),
    ("/run/chargen dgram unix wait root internal", {"builtin": Builtin("chargen"), "wait": False}),
    # P32: buffer sizes
    (
        "ftp stream tcp,rcvbuf=64k,sndbuf=1m nowait root /x x",
        {"rcvbuf": 65536, "sndbuf": 1048576, "proto_name": "tcp"},
    ),
    ("ftp stream tcp,sndbuf=12 nowait root /x x", {"sndbuf": 12, "rcvbuf": None}),
    ("ftp stream tcp6,rcvbuf=2K nowait root /x x", {"rcvbuf": 2048, "proto_name": "tcp6"}),
    # P35: CRLF
    ("ftp stream tcp nowait root /x x -l\r\n", {"program": Program("/x", ("x", "-l"))}),
    # P37: no line-length or argument-count limit
    (
        "ftp stream tcp nowait root /x x " + "a" * 3000,
        {"program": Program("/x", ("x", "a" * 3000))},
    ),
    (
        "ftp stream tcp nowait root /x " + " ".join(map(str, range(30))),
        {"program": Program("/x", tuple(map(str, range(30))))},
    ),
    # FreeBSD: the arguments may name the builtin; on a numeric port they must.
    ("7007 stream tcp nowait root internal echo", {"builtin": Builtin("echo", ("echo",))}),
    ("7019 dgram udp wait root internal chargen", {"builtin": Builtin("chargen", ("chargen",))}),
    ("daytime stream tcp nowait root internal time", {"builtin": Builtin("daytime", ("time",))}),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[t for t, _ in GOOD])
def test_good_line(text: str, expected: dict[str, Any]) -> None:
    service = one(text)
    assert service.origin == Origin(F, 1)
    for name, value in expected.items():
        assert getattr(service, name) == value, name
    # Every good line survives rendering.
    again = one(render(service))
    assert again == service


def test_p3_program_without_arguments_gets_its_basename_and_a_note() -> None:
    config = load("foo stream tcp nowait root /bin/foo\n")
    assert config.services[0].program == Program("/bin/foo", ("foo",))
    assert [str(n) for n in config.notes] == [
        'inetd.conf:1: foo/tcp: no arguments: argv[0] set to "foo" '
        "(FreeBSD would pass an empty argv)"
    ]


def test_notes_are_pinned() -> None:
    text = (
        "#@ ipsec ah/require\n"
        "finger stream tcp nowait nobody:nogroup/daemon /x x\n"
        "echo stream tcp wait root internal\n"
        "tcpmux/+date stream tcp wait nobody /bin/date date\n"
        "#@\n"
    )
    config = load(text)
    assert config.errors == ()
    assert [str(n) for n in config.notes] == [
        "inetd.conf:1: IPsec policy line (#@) ignored: pyinetd does not set IPsec policies",
        'inetd.conf:2: finger/tcp: login class "daemon" ignored: '
        "login classes do not exist on Linux",
        'inetd.conf:3: echo/tcp: builtin services run nowait: "wait" ignored',
        'inetd.conf:4: tcpmux/+date/tcp: tcpmux services run nowait: "wait" ignored',
        "inetd.conf:5: IPsec policy line (#@) ignored: pyinetd does not set IPsec policies",
    ]
    assert all(isinstance(n, ConfigNote) for n in config.notes)


def test_dgram_builtin_written_wait_gets_no_note() -> None:
    assert load("echo dgram udp wait root internal\n").notes == ()


# ---------------------------------------------------------------------- error lines

# (text, the exact errors as printed)
BAD: list[tuple[str, list[str]]] = [
    # P8
    ("svc stream tcp nowait root", ["inetd.conf:1: not enough fields"]),
    ("echo", ["inetd.conf:1: not enough fields"]),
    ("ftp stream tcp nowait root /x ftpd\n\n\t-l", ["inetd.conf:3: not enough fields"]),
    ("ftp stream tcp nowait root /x ftpd\n#c\n\t-l -A", ["inetd.conf:3: not enough fields"]),
    # quoting
    ('ftp stream tcp nowait root /x x "a b', ['inetd.conf:1: ftp/tcp: unterminated " quote']),
    ("ftp stream tcp nowait root /x x\n 'a", ["inetd.conf:1: ftp/tcp: unterminated ' quote"]),
    # P10, P14: wait field
    ("ftp stream tcp nowait/40000 root /x x", ['inetd.conf:1: ftp/tcp: bad max-child "40000"']),
    ("ftp stream tcp nowait/abc root /x x", ['inetd.conf:1: ftp/tcp: bad max-child "abc"']),
    ("ftp stream tcp nowait/ root /x x", ['inetd.conf:1: ftp/tcp: bad max-child ""']),
    (
        "ftp stream tcp nowait/1/x root /x x",
        ['inetd.conf:1: ftp/tcp: bad max-connections-per-ip-per-minute "x"'],
    ),
    (
        "ftp stream tcp nowait/1/2/-3 root /x x",
        ['inetd.conf:1: ftp/tcp: bad max-child-per-ip "-3"'],
    ),
    (
        "ftp stream tcp nowait/1/2/3/4 root /x x",
        ['inetd.conf:1: ftp/tcp: bad wait/nowait "nowait/1/2/3/4"'],
    ),
    ("ftp stream tcp waitress root /x x", ['inetd.conf:1: ftp/tcp: bad wait/nowait "waitress"']),
    ("ftp stream tcp nowaitx root /x x", ['inetd.conf:1: ftp/tcp: bad wait/nowait "nowaitx"']),
    ("ftp stream tcp Wait root /x x", ['inetd.conf:1: ftp/tcp: bad wait/nowait "Wait"']),
    (
        "ftp stream tcp nowait.x root /x x",
        ['inetd.conf:1: ftp/tcp: bad invocations per minute "x"'],
    ),
    ("ftp stream tcp nowait. root /x x", ['inetd.conf:1: ftp/tcp: bad invocations per minute ""']),
    (
        "ftp stream tcp nowait.-1 root /x x",
        ['inetd.conf:1: ftp/tcp: bad invocations per minute "-1"'],
    ),
    # users and groups
    ("ftp stream tcp nowait nosuch /x x", ['inetd.conf:1: ftp/tcp: no such user "nosuch"']),
    ("ftp stream tcp nowait root:nosuch /x x", ['inetd.conf:1: ftp/tcp: no such group "nosuch"']),
    ("ftp stream tcp nowait root: /x x", ['inetd.conf:1: ftp/tcp: no such group ""']),
    ("ftp stream tcp nowait :wheel /x x", ['inetd.conf:1: ftp/tcp: no user in ":wheel"']),
    (
        "ftp stream tcp nowait root:wheel/ /x x",
        ['inetd.conf:1: ftp/tcp: empty login class in "root:wheel/"'],
    ),
    # P16 in FreeBSD's reading would be "no such user"; ours splits, so only a bad group fails.
    ("ftp stream tcp nowait nobody.nosuch /x x", ['inetd.conf:1: ftp/tcp: no such group "nosuch"']),
    # programs and builtins, P25
    (
        "ftp stream tcp nowait root /nope x",
        ["inetd.conf:1: ftp/tcp: program /nope: No such file or directory"],
    ),
    (
        "ftp stream tcp nowait root bin/x x",
        ['inetd.conf:1: ftp/tcp: program "bin/x" is not an absolute path'],
    ),
    (
        "ftp stream tcp nowait root internal",
        ["inetd.conf:1: ftp/tcp: internal service ftp unknown"],
    ),
    (
        "12345 stream tcp nowait root internal",
        ["inetd.conf:1: 12345/tcp: internal service 12345 unknown"],
    ),
    (
        "/run/foo stream unix nowait root internal",
        ["inetd.conf:1: /run/foo/unix: internal service foo unknown"],
    ),
    (
        "echo raw tcp nowait root internal",
        ["inetd.conf:1: echo/tcp: internal service echo cannot serve socket type raw"],
    ),
    (
        "echo seqpacket tcp nowait root internal",
        ["inetd.conf:1: echo/tcp: internal service echo cannot serve socket type seqpacket"],
    ),
    (
        "/run/tcpmux dgram unix wait root internal",
        ["inetd.conf:1: /run/tcpmux/unix: internal service tcpmux cannot serve socket type dgram"],
    ),
    # P24: services and ports
    ("nosuchsvc stream tcp nowait root /x x", ["inetd.conf:1: nosuchsvc/tcp: unknown service"]),
    ("tftp stream tcp nowait root /x x", ["inetd.conf:1: tftp/tcp: unknown service"]),
    ("70000 stream tcp nowait root /x x", ['inetd.conf:1: 70000/tcp: bad port "70000"']),
    (
        "127.0.0.1: stream tcp nowait root /x x",
        ['inetd.conf:1: stream/nowait: unknown protocol "nowait"'],
    ),
    ('"127.0.0.1:" "" stream tcp nowait root /x x', ["inetd.conf:1: /tcp: no service name"]),
    ('127.0.0.1:"" stream tcp nowait root /x x', ['inetd.conf:1: ""/tcp: unknown service']),
    # socket types
    ("ftp streams tcp nowait root /x x", ['inetd.conf:1: ftp/tcp: bad socket type "streams"']),
    (
        "ftp dgram tcp nowait root /x x",
        ["inetd.conf:1: ftp/tcp: socket type dgram does not fit protocol tcp"],
    ),
    (
        "tftp stream udp nowait root /x x",
        ["inetd.conf:1: tftp/udp: socket type stream does not fit protocol udp"],
    ),
    # P18: protocols
    ("echo stream tcp5 nowait root internal", ['inetd.conf:1: echo/tcp5: bad IP version "tcp5"']),
    (
        "echo stream tcp47 nowait root internal",
        ['inetd.conf:1: echo/tcp47: bad IP version "tcp47"'],
    ),
    ("echo stream sctp nowait root internal", ['inetd.conf:1: echo/sctp: unknown protocol "sctp"']),
    ("echo stream TCP nowait root internal", ['inetd.conf:1: echo/TCP: unknown protocol "TCP"']),
    (
        "echo stream faith nowait root internal",
        ['inetd.conf:1: echo/faith: protocol "faith" is not supported: FAITH was removed'],
    ),
    (
        "echo stream tcp/faith nowait root internal",
        ['inetd.conf:1: echo/tcp/faith: protocol "tcp/faith" is not supported: FAITH was removed'],
    ),
    # P32: buffer sizes
    (
        "ftp stream tcp,foo=1 nowait root /x x",
        ['inetd.conf:1: ftp/tcp: malformed buffer size option "foo=1"'],
    ),
    (
        "ftp stream tcp, nowait root /x x",
        ['inetd.conf:1: ftp/tcp: malformed buffer size option ""'],
    ),
    (
        "ftp stream tcp,sndbuf=1g nowait root /x x",
        ['inetd.conf:1: ftp/tcp: malformed buffer size option "sndbuf=1g"'],
    ),
    (
        "ftp stream tcp,sndbuf=0 nowait root /x x",
        ['inetd.conf:1: ftp/tcp: invalid buffer size "sndbuf=0"'],
    ),
    (
        "ftp stream tcp,rcvbuf=4096m nowait root /x x",
        ['inetd.conf:1: ftp/tcp: invalid buffer size "rcvbuf=4096m"'],
    ),
    (
        "ftp stream tcp,sndbuf=1,rcvbuf=1,sndbuf=2 nowait root /x x",
        ["inetd.conf:1: ftp/tcp: too many buffer sizes"],
    ),
    (
        "ftp stream tcp,sndbuf=1,sndbuf=2 nowait root /x x",
        ['inetd.conf:1: ftp/tcp: buffer size "sndbuf" given twice'],
    ),
    # P28 and the other tcpmux rules
    (
        "tcpmux/x dgram udp nowait root /x x",
        ["inetd.conf:1: tcpmux/x/udp: bad protocol/socket type for tcpmux service"],
    ),
    (
        "tcpmux/x stream rpc/tcp nowait root /x x",
        ["inetd.conf:1: tcpmux/x/rpc/tcp: bad protocol/socket type for tcpmux service"],
    ),
    (
        "tcpmux/help stream tcp nowait root /x x",
        ['inetd.conf:1: tcpmux/help/tcp: tcpmux name "help" is reserved'],
    ),
    (
        "tcpmux/+HELP stream tcp nowait root /x x",
        ['inetd.conf:1: tcpmux/+HELP/tcp: tcpmux name "help" is reserved'],
    ),
    (
        "tcpmux/+ stream tcp nowait root /x x",
        ["inetd.conf:1: tcpmux/+/tcp: no tcpmux service name"],
    ),
    (
        "tcpmux/x stream tcp,sndbuf=1 nowait root /x x",
        ["inetd.conf:1: tcpmux/x/tcp: buffer sizes do not apply to tcpmux/ services"],
    ),
    (
        "127.0.0.1:tcpmux/x stream tcp nowait root /x x",
        ["inetd.conf:1: tcpmux/x/tcp: a tcpmux/ service cannot be bound to an address"],
    ),
    (
        "tcpmux/x stream tcp nowait root internal",
        ["inetd.conf:1: tcpmux/x/tcp: internal service tcpmux/x unknown"],
    ),
    # P29: RPC
    (
        "rstatd/x dgram rpc/udp wait root /x x",
        ['inetd.conf:1: rstatd/x/rpc/udp: bad RPC version "x"'],
    ),
    (
        "rstatd/3-1 dgram rpc/udp wait root /x x",
        ['inetd.conf:1: rstatd/3-1/rpc/udp: bad RPC version "3-1"'],
    ),
    ("rstatd/ dgram rpc/udp wait root /x x", ['inetd.conf:1: rstatd//rpc/udp: bad RPC version ""']),
    ("/1 dgram rpc/udp wait root /x x", ["inetd.conf:1: /1/rpc/udp: no RPC program name"]),
    (
        "127.0.0.1:rstatd/1 dgram rpc/udp wait root /x x",
        ["inetd.conf:1: rstatd/1/rpc/udp: an RPC service cannot be bound to an address"],
    ),
    # P31: UNIX sockets
    (":news:daemon:22x:/p stream unix nowait root /x x", ['inetd.conf:1: /p/unix: bad mode "22x"']),
    (
        ":news:daemon:17777:/p stream unix nowait root /x x",
        ['inetd.conf:1: /p/unix: bad mode "17777"'],
    ),
    (":news stream unix nowait root /x x", ['inetd.conf:1: news/unix: no group after user "news"']),
    (
        ":news:daemon stream unix nowait root /x x",
        ['inetd.conf:1: daemon/unix: no mode after group "daemon"'],
    ),
    (
        ":news:daemon:220 stream unix nowait root /x x",
        ['inetd.conf:1: 220/unix: no path after mode "220"'],
    ),
    (
        ":nosuch:daemon:220:/p stream unix nowait root /x x",
        ['inetd.conf:1: /p/unix: no such user "nosuch"'],
    ),
    (
        ":news:nosuch:220:/p stream unix nowait root /x x",
        ['inetd.conf:1: /p/unix: no such group "nosuch"'],
    ),
    (
        "run/sock stream unix nowait root /x x",
        ['inetd.conf:1: run/sock/unix: UNIX socket path "run/sock" is not absolute'],
    ),
    (
        "/" + "a" * 107 + " stream unix nowait root /x x",
        [f"inetd.conf:1: /{'a' * 107}/unix: UNIX socket path too long (108 bytes, at most 107)"],
    ),
    (
        "/" + "é" * 54 + " stream unix nowait root /x x",
        [f"inetd.conf:1: /{'é' * 54}/unix: UNIX socket path too long (109 bytes, at most 107)"],
    ),
    (
        "'/a\0b' stream unix nowait root /x x",
        ["inetd.conf:1: /a\0b/unix: UNIX socket path contains a NUL byte"],
    ),
    # hosts, P20
    (
        "127.0.0.1:echo stream tcp6 nowait root internal",
        ["inetd.conf:1: echo/tcp6: address 127.0.0.1 does not fit protocol tcp6"],
    ),
    (
        "[::1]:echo stream tcp nowait root internal",
        ["inetd.conf:1: echo/tcp: address ::1 does not fit protocol tcp"],
    ),
    (
        "127.0.0.1:echo stream tcp46 nowait root internal",
        ["inetd.conf:1: echo/tcp46: address 127.0.0.1 does not fit protocol tcp46"],
    ),
    (
        "[zz]:echo stream tcp6 nowait root internal",
        ['inetd.conf:1: echo/tcp6: bad IPv6 address "[zz]"'],
    ),
    (
        "1:2:echo stream tcp6 nowait root internal",
        ['inetd.conf:1: echo/tcp6: bad IPv6 address "1:2"'],
    ),
    ("a,,b:echo stream tcp nowait root internal", ['inetd.conf:1: echo/tcp: empty host in "a,,b"']),
    (
        "nowhere.invalid:echo stream tcp nowait root internal",
        ['inetd.conf:1: echo/tcp: host "nowhere.invalid": Name or service not known'],
    ),
    ("nowhere.invalid:", []),
    (
        "1:2:\necho stream tcp nowait root internal",
        [
            'inetd.conf:1: bad IPv6 address "1:2"',
            "inetd.conf:2: echo/tcp: the default host set at line 1 is bad",
        ],
    ),
    # P36: duplicates keep the first
    (
        "echo stream tcp nowait root internal\necho stream tcp nowait root internal",
        ["inetd.conf:2: echo/tcp: same address, port and protocol as echo/tcp at inetd.conf:1"],
    ),
    (
        "echo stream tcp nowait root internal\n7 stream tcp nowait root /x x",
        ["inetd.conf:2: 7/tcp: same address, port and protocol as echo/tcp at inetd.conf:1"],
    ),
    (
        "127.0.0.1:echo stream tcp nowait root internal\n"
        "localhost:echo stream tcp4 nowait root internal",
        [
            "inetd.conf:2: 127.0.0.1:echo/tcp4: same address, port and protocol as "
            "127.0.0.1:echo/tcp at inetd.conf:1"
        ],
    ),
    (
        "/run/e stream unix nowait root /x x\n/run/e dgram unix wait root /x x",
        ["inetd.conf:2: /run/e/unix: same socket path as /run/e/unix at inetd.conf:1"],
    ),
    (
        "tcpmux/a stream tcp nowait root /x x\ntcpmux/+A stream tcp6 nowait root /x x",
        ["inetd.conf:2: tcpmux/+A/tcp6: same tcpmux name as tcpmux/a/tcp at inetd.conf:1"],
    ),
]


@pytest.mark.parametrize(("text", "messages"), BAD, ids=[t for t, _ in BAD])
def test_bad_line(text: str, messages: list[str]) -> None:
    config = load(text)
    assert [str(e) for e in config.errors] == messages
    assert all(type(e) is ConfigError for e in config.errors)


def test_duplicate_keeps_the_first_entry() -> None:
    config = load("echo stream tcp nowait root internal\necho stream tcp nowait nobody internal\n")
    assert [s.user for s in config.services] == ["root"]


def test_distinct_endpoints_are_not_duplicates() -> None:
    text = (
        "echo stream tcp nowait root internal\n"
        "echo stream tcp6 nowait root internal\n"
        "echo stream tcp46 nowait root internal\n"
        "echo dgram udp wait root internal\n"
        "127.0.0.1:echo stream tcp nowait root internal\n"
        "0 stream tcp nowait root /x x\n"
        "0 stream tcp nowait root /x x\n"
        "rstatd/1 dgram rpc/udp wait root /x x\n"
        "rstatd/1 dgram rpc/udp wait root /x x\n"
    )
    config = load(text)
    assert config.errors == ()
    assert len(config.services) == 9


# --------------------------------------------------------------------- multi-line files


def test_p4_comments_blank_and_whitespace_lines_are_ignored() -> None:
    config = load("# comment\n\n   \t  \n#echo stream tcp nowait root internal\n")
    assert config == Config(files=(F,))


def test_p20_one_service_per_address() -> None:
    config = load("127.0.0.1,two.example,localhost:echo stream tcp nowait root internal\n")
    assert config.errors == ()
    hosts = [s.listen.host for s in config.services if s.listen]
    assert hosts == ["127.0.0.1", "192.0.2.1", "192.0.2.2"]
    assert [s.label for s in config.services] == [
        "127.0.0.1:echo/tcp",
        "192.0.2.1:echo/tcp",
        "192.0.2.2:echo/tcp",
    ]


def test_p20_a_bad_address_does_not_hide_the_good_ones() -> None:
    config = load(
        "127.0.0.1,[::1],nowhere.invalid,localhost:echo stream tcp6 nowait root internal\n"
    )
    assert [s.listen.host for s in config.services if s.listen] == ["::1"]
    assert [str(e) for e in config.errors] == [
        "inetd.conf:1: echo/tcp6: address 127.0.0.1 does not fit protocol tcp6",
        'inetd.conf:1: echo/tcp6: host "nowhere.invalid": Name or service not known',
    ]


def test_p21_lone_host_lines_set_the_default() -> None:
    text = (
        "127.0.0.1:\n"
        "echo stream tcp nowait root internal\n"
        "daytime stream tcp nowait root internal\n"
        "[::1]:time stream tcp6 nowait root internal\n"
        "rstatd/1 dgram rpc/udp wait root /x x\n"
        "/run/e stream unix nowait root /x x\n"
        "tcpmux/x stream tcp nowait root /x x\n"
        "*:\n"
        "discard stream tcp nowait root internal\n"
        "localhost,[::1]:\n"
        "chargen stream tcp6 nowait root internal\n"
        ":\n"
        "ftp stream tcp nowait root /x x\n"
    )
    config = load(text)
    assert config.errors == ()
    assert [(s.service, s.listen.host if s.listen else None) for s in config.services] == [
        ("echo", "127.0.0.1"),
        ("daytime", "127.0.0.1"),
        ("time", "::1"),
        ("rstatd/1", "*"),
        ("/run/e", None),
        ("tcpmux/x", None),
        ("discard", "*"),
        ("chargen", "::1"),
        ("ftp", "*"),
    ]


def test_default_host_that_does_not_fit_is_an_error_per_entry() -> None:
    config = load("127.0.0.1:\necho stream tcp6 nowait root internal\n")
    assert [str(e) for e in config.errors] == [
        "inetd.conf:2: echo/tcp6: address 127.0.0.1 does not fit protocol tcp6"
    ]


def test_one_bad_entry_never_hides_the_good_ones() -> None:
    text = (
        "echo stream tcp nowait root internal\r\n"
        "bad line\r\n"
        "ftp stream tcp nowait nosuch /x x\r\n"
        "# comment\r\n"
        "ftp stream tcp nowait root /x x\r\n"
        "\t-l\r\n"
        "chargen stream tcp nowait root internal\r\n"
    )
    config = load(text)
    assert [s.label for s in config.services] == ["echo/tcp", "ftp/tcp", "chargen/tcp"]
    assert [s.origin.line for s in config.services] == [1, 5, 7]
    assert config.services[1].program == Program("/x", ("x", "-l"))
    assert [str(e) for e in config.errors] == [
        "inetd.conf:2: not enough fields",
        'inetd.conf:3: ftp/tcp: no such user "nosuch"',
    ]


def test_leading_whitespace_without_an_open_entry_starts_one() -> None:
    service = one("# c\n  echo stream tcp nowait root internal\n")
    assert service.origin.line == 2


def test_byte_order_mark_is_ignored() -> None:
    assert one("\ufeffecho stream tcp nowait root internal").service == "echo"


# ----------------------------------------------------------------- smaller grammars


@pytest.mark.parametrize(
    ("line", "words", "error"),
    [
        ("a  b\tc", ["a", "b", "c"], None),
        ("\"a b\" 'c d'", ["a b", "c d"], None),
        ('a"b c"', ['a"b', 'c"'], None),
        ('"a', [], 'unterminated " quote'),
        ("x 'a", ["x"], "unterminated ' quote"),
        ("", [], None),
    ],
)
def test_tokenize(line: str, words: list[str], error: str | None) -> None:
    assert tokenize(line) == (words, error)


def test_parse_protocol_fields() -> None:
    spec = parse_protocol("rpc/udp46,sndbuf=1k")
    assert (spec.proto_name, spec.protocol, spec.family, spec.sndbuf, spec.rcvbuf) == (
        "rpc/udp46",
        Protocol.RPC_UDP,
        Family.DUAL,
        1024,
        None,
    )
    assert parse_protocol("unix").family is Family.UNIX
    assert parse_protocol("tcp44").family is Family.INET
    with pytest.raises(ValueError, match="bad IP version"):
        parse_protocol("udp9")


# --------------------------------------------------------------- the real machine


def test_system_resolver_on_this_machine(tmp_path: Any) -> None:
    prog = tmp_path / "prog"
    prog.write_text("#!/bin/sh\n")
    prog.chmod(0o755)
    plain = tmp_path / "plain"
    plain.write_text("")
    plain.chmod(0o644)
    text = (
        f"0 stream tcp nowait root {prog} prog\n"
        f"127.0.0.1:0 stream tcp nowait root {prog}\n"
        f"[::1]:0 stream tcp6 nowait root {prog} prog\n"
        f"0 stream tcp nowait root {plain} plain\n"
        f"0 stream tcp nowait root {tmp_path} x\n"
        f"0 stream tcp nowait root {tmp_path}/missing x\n"
        "0 stream tcp nowait no-such-user-pyinetd internal\n"
        "0 stream tcp nowait root:no-such-group-pyinetd internal\n"
        "no-such-service-pyinetd stream tcp nowait root internal\n"
    )
    config = parse(text, F, SystemResolver())
    assert [s.listen.host for s in config.services if s.listen] == ["*", "127.0.0.1", "::1"]
    assert [str(e) for e in config.errors] == [
        f"inetd.conf:4: 0/tcp: program {plain}: not executable",
        f"inetd.conf:5: 0/tcp: program {tmp_path}: not a regular file",
        f"inetd.conf:6: 0/tcp: program {tmp_path}/missing: No such file or directory",
        'inetd.conf:7: 0/tcp: no such user "no-such-user-pyinetd"',
        'inetd.conf:8: 0/tcp: no such group "no-such-group-pyinetd"',
        "inetd.conf:9: no-such-service-pyinetd/tcp: unknown service",
    ]


def test_system_resolver_lookups() -> None:
    r = SystemResolver()
    assert r.primary_group("root") is not None
    assert r.primary_group("no-such-user-pyinetd") is None
    assert r.primary_group("a\0b") is None
    assert r.group_exists("no-such-group-pyinetd") is False
    assert r.program_problem("/a\0b") is not None
    assert r.service("no-such-service-pyinetd", "tcp") is None
    assert r.addresses("127.0.0.1", Family.INET) == ("127.0.0.1",)
    assert r.addresses("::1", Family.INET6) == ("::1",)
    with pytest.raises(LookupError):
        r.addresses("::1", Family.INET)
