"""The command line end to end: pyinetd run as a subprocess, as an administrator runs it.

Covers --version/--help, usage errors, --check (text and JSON), detaching with a pidfile,
a second instance refused, the stop signals, and a listener whose port is taken at start
being bound later by the retry timer.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pyinetd as pkg
from conftest import PROGRAMS, WAIT, process_state, tcp_exchange, wait_until

CONTRACT = f"{PROGRAMS}/contract.py contract.py"
_LISTENING = re.compile(r": listening on (\S+):(\d+) \((.+):(\d+)\)$", re.MULTILINE)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyinetd", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=cwd,
    )


def write_conf(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.fixture
def busy_port() -> Iterator[socket.socket]:
    """A listening socket of ours on 127.0.0.1: its port is in use until we close it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        yield s
    finally:
        s.close()


def alive(pid: int) -> bool:
    return process_state(pid) not in (None, "Z")


def pidfile_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


# ----------------------------------------------------------------------------- flags


def test_version() -> None:
    r = run_cli("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"pyinetd {pkg.__version__}"


def test_help_names_the_flags_and_exit_codes() -> None:
    r = run_cli("--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage: pyinetd")
    for flag in ("-d", "-l", "-a ADDRESS", "-p PIDFILE", "--foreground", "--check", "-E"):
        assert flag in r.stdout, flag
    for code in ("64", "71", "73", "78"):
        assert code in r.stdout


@pytest.mark.parametrize(
    "argv",
    [["--no-such-flag"], ["-r", "0"], ["-r", "soon"], ["--json", "/dev/null"]],
    ids=["unknown-flag", "zero-retry", "bad-retry", "json-without-check"],
)
def test_bad_command_line_is_ex_usage(argv: list[str], tmp_path: Path) -> None:
    r = run_cli(*argv, cwd=tmp_path)
    assert r.returncode == os.EX_USAGE == 64
    assert "usage: pyinetd" in r.stderr
    assert r.stdout == ""


# ----------------------------------------------------------------------------- --check


def test_check_good_config_exits_0(tmp_path: Path) -> None:
    conf = write_conf(
        tmp_path / "inetd.conf",
        [
            "# a comment",
            "127.0.0.1:0 stream tcp nowait root internal echo",
            f"127.0.0.1:0 stream tcp nowait root {CONTRACT}",
        ],
    )
    r = run_cli("--check", str(conf))
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert len(out) == 2
    assert out[0].startswith(f"{conf}:2: ")
    assert out[1].startswith(f"{conf}:3: ")
    assert "contract.py" in out[1]
    assert "2 services, 0 errors" in r.stderr


def test_check_bad_config_exits_78_naming_file_and_line(tmp_path: Path) -> None:
    conf = write_conf(
        tmp_path / "inetd.conf",
        [
            f"127.0.0.1:0 stream tcp nowait root {CONTRACT}",
            "127.0.0.1:0 stream tcp nowait",
            "127.0.0.1:0 stream tcp nowait root relative/program program",
        ],
    )
    r = run_cli("--check", str(conf))
    assert r.returncode == os.EX_CONFIG == 78
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2, r.stderr
    assert errors[0].startswith(f"error: {conf}:2: ")
    assert errors[1].startswith(f"error: {conf}:3: ")
    # The good line is still shown.
    assert r.stdout.startswith(f"{conf}:1: ")


def test_check_missing_file_exits_78(tmp_path: Path) -> None:
    r = run_cli("--check", str(tmp_path / "absent.conf"))
    assert r.returncode == 78
    assert f"{tmp_path / 'absent.conf'}" in r.stderr


def test_check_json_shape(tmp_path: Path) -> None:
    conf = write_conf(
        tmp_path / "inetd.conf",
        [
            f"127.0.0.1:0 stream tcp,sndbuf=65536 nowait root {CONTRACT} one",
            "this line is broken",
        ],
    )
    r = run_cli("--check", "--json", str(conf))
    assert r.returncode == 78
    doc = json.loads(r.stdout)
    assert set(doc) == {"services", "errors", "notes"}
    assert len(doc["services"]) == 1
    svc = doc["services"][0]
    assert svc["file"] == str(conf)
    assert svc["line"] == 1
    assert svc["host"] == "127.0.0.1"
    assert svc["port"] == 0
    assert svc["path"] is None
    assert svc["socket_type"] == "stream"
    assert svc["protocol"] == "tcp"
    assert svc["wait"] is False
    assert svc["user"] == "root"
    assert svc["program"] == f"{PROGRAMS}/contract.py"
    assert svc["argv"] == ["contract.py", "one"]
    assert svc["builtin"] is None
    assert svc["sndbuf"] == 65536
    assert isinstance(svc["label"], str) and svc["label"].endswith("/tcp")
    assert len(doc["errors"]) == 1
    err = doc["errors"][0]
    assert set(err) == {"file", "line", "label", "message"}
    assert (err["file"], err["line"]) == (str(conf), 2)
    assert isinstance(err["message"], str) and err["message"]
    assert isinstance(doc["notes"], list)


def test_check_json_of_a_good_config_exits_0(tmp_path: Path) -> None:
    conf = write_conf(tmp_path / "inetd.conf", ["127.0.0.1:0 stream tcp nowait root internal echo"])
    r = run_cli("--check", "--json", str(conf))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["errors"] == []
    assert [s["builtin"] for s in doc["services"]] == ["echo"]


# ----------------------------------------------------------------------------- lifecycle


def test_detach_pidfile_serve_and_sigterm(tmp_path: Path, busy_port: socket.socket) -> None:
    """Without -d: the command returns, the daemon serves, SIGTERM ends it cleanly.

    One listener's port is taken at start: the bind error reaches the terminal before
    the daemon detaches, and the retry timer binds it once the port is free.
    """
    taken = busy_port.getsockname()[1]
    conf = write_conf(
        tmp_path / "inetd.conf",
        [
            f"127.0.0.1:0 stream tcp nowait root {CONTRACT}",
            f"127.0.0.1:{taken} stream tcp nowait root internal echo",
        ],
    )
    pidfile = tmp_path / "pyinetd.pid"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyinetd", "-p", str(pidfile), "--retry", "0.5", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid: int | None = None
    try:
        # The pipes close once the daemon has redirected its standard streams.
        _, err = proc.communicate(timeout=WAIT)
        assert proc.returncode == 0, err
        listening = {int(m.group(4)): int(m.group(2)) for m in _LISTENING.finditer(err)}
        assert set(listening) == {1}, err
        assert re.search(rf":{taken}/tcp: bind: Address already in use", err), err

        wait_until(lambda: pidfile_pid(pidfile) is not None, what="the pidfile")
        pid = pidfile_pid(pidfile)
        assert pid is not None and pid != proc.pid and alive(pid)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            assert b"pyinetd" in f.read()

        report = json.loads(tcp_exchange(("127.0.0.1", listening[1])))
        assert report["fds"] == [0, 1, 2]
        assert report["sid"] == report["pid"]

        busy_port.close()

        def echo_answers() -> bool:
            try:
                return tcp_exchange(("127.0.0.1", taken), b"late", timeout=1.0) == b"late"
            except OSError:
                return False

        wait_until(echo_answers, what="the retried listener")

        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not alive(pid), what="the daemon to exit")
        wait_until(lambda: not pidfile.exists(), what="the pidfile to go")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=WAIT)
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_second_instance_on_the_same_pidfile_is_refused(pyinetd, tmp_path: Path) -> None:
    pidfile = tmp_path / "pyinetd.pid"
    first = pyinetd(
        ["127.0.0.1:0 stream tcp nowait root internal echo"], ["-d", "-p", str(pidfile)]
    )
    wait_until(lambda: pidfile_pid(pidfile) is not None, what="the pidfile")
    assert first.proc is not None
    assert pidfile_pid(pidfile) == first.proc.pid

    r = run_cli("-d", "-p", str(pidfile), str(first.conf))
    assert r.returncode == os.EX_OSERR == 71
    assert f"{pidfile}: already running, pid {first.proc.pid}" in r.stderr
    assert not re.search(r"listening on", r.stderr)

    # The refused instance left the first one and its pidfile alone.
    assert pidfile_pid(pidfile) == first.proc.pid
    assert tcp_exchange(first.addr(1), b"still") == b"still"
    assert first.stop() == 0
    assert not pidfile.exists()


def test_pidfile_that_cannot_be_created_is_ex_cantcreat(tmp_path: Path) -> None:
    conf = write_conf(tmp_path / "inetd.conf", ["127.0.0.1:0 stream tcp nowait root internal echo"])
    r = run_cli("-d", "-p", str(tmp_path / "no" / "such" / "dir.pid"), str(conf))
    assert r.returncode == os.EX_CANTCREAT == 73
    assert "no/such/dir.pid" in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signals_exit_0_in_debug_mode(pyinetd, sig: signal.Signals) -> None:
    d = pyinetd(
        [
            "127.0.0.1:0 stream tcp nowait root internal echo",
            f"127.0.0.1:0 stream tcp nowait root {CONTRACT}",
        ]
    )
    assert tcp_exchange(d.addr(1), b"x") == b"x"
    assert d.proc is not None
    d.proc.send_signal(sig)
    assert d.proc.wait(timeout=WAIT) == 0
    d.wait_for(r"stopped")
    assert "Traceback" not in d.log()
    for line in (1, 2):
        with pytest.raises(ConnectionRefusedError):
            tcp_exchange(d.addr(line), timeout=1.0)


def test_port_in_use_is_reported_and_retried(pyinetd, busy_port: socket.socket) -> None:
    taken = busy_port.getsockname()[1]
    d = pyinetd(
        [
            f"127.0.0.1:{taken} stream tcp nowait root internal echo",
            f"127.0.0.1:0 stream tcp nowait root {CONTRACT}",
        ],
        ["-d", "-r", "0.5"],
    )
    assert d.seen(rf"127\.0\.0\.1:{taken}/tcp: bind: Address already in use")
    assert d.seen(r"ready: 1 services listening")
    assert 1 not in d.addresses
    # Everything else serves meanwhile.
    assert json.loads(tcp_exchange(d.addr(2)))["fds"] == [0, 1, 2]

    busy_port.close()
    d.wait_for(rf"listening on 127\.0\.0\.1:{taken} ")
    assert d.addr(1) == ("127.0.0.1", taken)
    assert tcp_exchange(d.addr(1), b"now bound") == b"now bound"
    assert d.stop() == 0


def test_port_still_in_use_is_retried_each_interval(pyinetd, busy_port: socket.socket) -> None:
    taken = busy_port.getsockname()[1]
    d = pyinetd([f"127.0.0.1:{taken} stream tcp nowait root internal echo"], ["-d", "-r", "0.5"])
    first = rf"127\.0\.0\.1:{taken}/tcp: bind: Address already in use"
    assert d.seen(first)
    # Two more failed attempts, each logged, and the daemon goes on.
    d.wait_for(first, timeout=5.0)
    d.wait_for(first, timeout=5.0)
    assert d.proc is not None and d.proc.poll() is None
    with contextlib.suppress(OSError):
        busy_port.close()
    d.wait_for(rf"listening on 127\.0\.0\.1:{taken} ")
    assert d.stop() == 0


def test_detached_with_syslog_and_relative_paths(tmp_path: Path) -> None:
    """Detached with a syslog socket: the daemon keeps serving (python-daemon closes the
    descriptors it is not told to keep, the syslog socket among them), logs to syslog,
    and relative config and pidfile paths keep their meaning after the chdir to /."""
    log_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log_path = tmp_path / "log"
    log_sock.bind(str(log_path))
    log_sock.settimeout(WAIT)
    write_conf(tmp_path / "rel.conf", ["127.0.0.1:0 stream tcp nowait root internal echo"])
    env = dict(os.environ, PYINETD_SYSLOG_SOCKET=str(log_path))
    pid: int | None = None
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pyinetd", "-p", "rel.pid", "rel.conf"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=WAIT,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        pidfile = tmp_path / "rel.pid"
        wait_until(lambda: pidfile_pid(pidfile) is not None, what="the pidfile")
        pid = pidfile_pid(pidfile)
        assert pid is not None

        def syslog_line(pattern: str) -> str:
            while True:
                line = log_sock.recv(65536).decode()
                if re.search(pattern, line):
                    return line

        ready = syslog_line(r"ready: \d+ services listening")
        assert ready.startswith("<30>pyinetd[")  # facility daemon (3), level info (6)
        port = int(re.findall(r"listening on 127\.0\.0\.1:(\d+)", done.stderr)[0])
        assert tcp_exchange(("127.0.0.1", port), b"still up") == b"still up"
        write_conf(
            tmp_path / "rel.conf",
            [
                "127.0.0.1:0 stream tcp nowait root internal echo",
                "127.0.0.1:0 stream tcp nowait root internal daytime",
            ],
        )
        os.kill(pid, signal.SIGHUP)
        syslog_line(r"reload: 1 kept, 1 added, 0 removed")
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not alive(pid), what="the daemon to exit")
        assert not pidfile.exists()
    finally:
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)
        log_sock.close()
