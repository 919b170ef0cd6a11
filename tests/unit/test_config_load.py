"""config.load over files and directories, and the --check views of its result."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pyinetd.config import error_to_dict, load, render, service_to_dict
from pyinetd.config.resolve import StaticResolver
from pyinetd.errors import ConfigError
from pyinetd.model import Family, Origin

RESOLVER = StaticResolver(
    services={
        ("echo", "tcp"): (7, "echo"),
        ("echo", "udp"): (7, "echo"),
        ("daytime", "tcp"): (13, "daytime"),
        ("ftp", "tcp"): (21, "ftp"),
    },
    users={"root": "wheel", "nobody": "nogroup"},
    groups={"wheel", "nogroup"},
    programs={"/usr/libexec/ftpd", "/bin/date"},
    hosts={("localhost", Family.INET): ["127.0.0.1"]},
)


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_files_load_in_order_and_the_default_host_resets_per_file(tmp_path: Path) -> None:
    a = write(tmp_path / "a.conf", "127.0.0.1:\necho stream tcp nowait root internal\n")
    b = write(tmp_path / "b.conf", "daytime stream tcp nowait root internal\n")
    config = load([a, b], RESOLVER)
    assert config.errors == ()
    assert config.files == (a, b)
    assert [(s.origin, s.label) for s in config.services] == [
        (Origin(a, 2), "127.0.0.1:echo/tcp"),
        (Origin(b, 1), "daytime/tcp"),
    ]


def test_directory_reads_regular_files_in_name_order_skipping_backups(tmp_path: Path) -> None:
    d = tmp_path / "inetd.d"
    d.mkdir()
    write(d / "20-daytime", "daytime stream tcp nowait root internal\n")
    write(d / "10-echo.conf", "echo stream tcp nowait root internal\n")
    for skipped in (
        ".hidden",
        "10-echo.conf~",
        "x.bak",
        "x.dpkg-old",
        "x.dpkg-dist",
        "x.rpmsave",
        "x.rpmnew",
    ):
        write(d / skipped, "this is not a valid line\n")
    (d / "subdir").mkdir()
    write(d / "subdir" / "inner", "not read either\n")
    config = load([str(d)], RESOLVER)
    assert config.errors == ()
    assert config.files == (str(d / "10-echo.conf"), str(d / "20-daytime"))
    assert [s.service for s in config.services] == ["echo", "daytime"]


def test_missing_file_is_an_error_at_line_zero(tmp_path: Path) -> None:
    good = write(tmp_path / "good", "echo stream tcp nowait root internal\n")
    missing = str(tmp_path / "missing")
    config = load([missing, good], RESOLVER)
    assert config.errors == (
        ConfigError(Origin(missing, 0), None, "cannot read: No such file or directory"),
    )
    assert str(config.errors[0]) == f"{missing}:0: cannot read: No such file or directory"
    assert [s.service for s in config.services] == ["echo"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "secret", "echo stream tcp nowait root internal\n")
    os.chmod(path, 0)
    config = load([path], RESOLVER)
    assert [str(e) for e in config.errors] == [f"{path}:0: cannot read: Permission denied"]


def test_duplicates_across_files_name_the_first(tmp_path: Path) -> None:
    a = write(tmp_path / "a", "echo stream tcp nowait root internal\nbad\n")
    b = write(tmp_path / "b", "bad too\necho stream tcp nowait nobody internal\n")
    config = load([a, b], RESOLVER)
    assert [s.user for s in config.services] == ["root"]
    assert [str(e) for e in config.errors] == [
        f"{a}:2: not enough fields",
        f"{b}:1: not enough fields",
        f"{b}:2: echo/tcp: same address, port and protocol as echo/tcp at {a}:1",
    ]


def test_non_utf8_bytes_do_not_raise(tmp_path: Path) -> None:
    path = tmp_path / "latin1"
    path.write_bytes(b"echo stream tcp nowait root internal\n\xe9cho stream tcp nowait root x\n")
    config = load([str(path)], RESOLVER)
    assert [s.service for s in config.services] == ["echo"]
    assert [e.message for e in config.errors] == ["unknown service"]


def test_service_to_dict_has_exactly_the_check_fields(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c",
        "localhost:ftp stream tcp,sndbuf=1k nowait/10/5/2.400 root:wheel "
        "/usr/libexec/ftpd ftpd -l\n"
        "tcpmux/+date stream tcp6 nowait nobody /bin/date date\n"
        "rstatd/1-3 dgram rpc/udp wait root /usr/libexec/ftpd x\n"
        "/run/echo stream unix nowait root internal\n",
    )
    config = load([path], RESOLVER)
    assert config.errors == ()
    ftp, mux, rpc, unix = (service_to_dict(s) for s in config.services)
    assert ftp == {
        "file": path,
        "line": 1,
        "label": "127.0.0.1:ftp/tcp",
        "service": "ftp",
        "host": "127.0.0.1",
        "port": 21,
        "path": None,
        "family": "inet",
        "socket_type": "stream",
        "protocol": "tcp",
        "wait": False,
        "max_child": 10,
        "max_conn_per_ip_per_minute": 5,
        "max_child_per_ip": 2,
        "max_per_minute": 400,
        "user": "root",
        "group": "wheel",
        "program": "/usr/libexec/ftpd",
        "builtin": None,
        "argv": ["ftpd", "-l"],
        "sndbuf": 1024,
        "rcvbuf": None,
        "rpc": None,
        "tcpmux": None,
    }
    assert (mux["host"], mux["port"], mux["family"], mux["tcpmux"]) == (
        None,
        None,
        "inet6",
        {"name": "date", "plus": True},
    )
    assert (rpc["protocol"], rpc["port"], rpc["rpc"]) == (
        "rpc/udp",
        0,
        {"name": "rstatd", "low": 1, "high": 3},
    )
    assert (unix["path"], unix["host"], unix["family"], unix["program"], unix["builtin"]) == (
        "/run/echo",
        None,
        "unix",
        "internal",
        "echo",
    )
    json.dumps([ftp, mux, rpc, unix])


def test_error_to_dict() -> None:
    e = ConfigError(Origin("f", 3), "echo/tcp", "unknown service")
    assert error_to_dict(e) == {
        "file": "f",
        "line": 3,
        "label": "echo/tcp",
        "message": "unknown service",
    }


def test_render_normalises(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r",
        "localhost:\n"
        "ftp  stream tcp,rcvbuf=2k nowait:40 root.wheel /usr/libexec/ftpd ftpd 'a b' \"\"\n",
    )
    (service,) = load([path], RESOLVER).services
    assert render(service) == (
        "127.0.0.1:ftp\tstream\ttcp,rcvbuf=2048\tnowait.40\troot:wheel\t"
        '/usr/libexec/ftpd\tftpd\t"a b"\t""'
    )


def test_path_through_a_regular_file_is_an_error(tmp_path: Path) -> None:
    plain = write(tmp_path / "plain", "")
    bad = os.path.join(plain, "inetd.conf")
    config = load([bad], RESOLVER)
    assert [str(e) for e in config.errors] == [f"{bad}:0: cannot read: Not a directory"]
    assert config.files == ()
