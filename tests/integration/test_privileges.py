"""Users and groups through a real pyinetd: as root each service's program runs with the
ids the user database gives (groups, then gid, then uid); pyinetd started as `nobody`
runs every program as nobody and warns once per service that names someone else.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import PROGRAMS, WAIT, Daemon, tcp_exchange

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="switching users needs root (run the suite as root)"
)

CONTRACT = f"{PROGRAMS}/contract.py contract.py"


def report(raw: bytes) -> dict[str, object]:
    return json.loads(raw.decode().splitlines()[0])  # type: ignore[no-any-return]


def first_group(*names: str) -> grp.struct_group:
    for name in names:
        try:
            return grp.getgrnam(name)
        except KeyError:
            continue
    pytest.skip(f"none of the groups {', '.join(names)} exists here")


def user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pytest.skip(f"there is no user {name!r} here")


def expected_ids(name: str, gid: int | None = None) -> dict[str, object]:
    pw = pwd.getpwnam(name)
    gid = pw.pw_gid if gid is None else gid
    return {
        "uid": pw.pw_uid,
        "euid": pw.pw_uid,
        "gid": gid,
        "egid": gid,
        "groups": sorted(set(os.getgrouplist(name, gid))),
    }


def ids_of(r: dict[str, object]) -> dict[str, object]:
    return {k: r[k] for k in ("uid", "euid", "gid", "egid", "groups")}


def run_as(pyinetd, who: str) -> dict[str, object]:
    d = pyinetd([f"127.0.0.1:0 stream tcp nowait {who} {CONTRACT}"])
    r = report(tcp_exchange(d.addr(1)))
    d.wait_for(r"\[\d+\]: exit status 0")
    return r


def test_user_nobody(pyinetd) -> None:
    pw = user("nobody")
    r = run_as(pyinetd, "nobody")
    assert ids_of(r) == expected_ids("nobody")
    env = r["env"]
    assert isinstance(env, dict)
    assert (env["USER"], env["LOGNAME"], env["HOME"]) == ("nobody", "nobody", pw.pw_dir)
    assert r["fds"] == [0, 1, 2]


def test_root_with_group_daemon(pyinetd) -> None:
    daemon = first_group("daemon")
    r = run_as(pyinetd, "root:daemon")
    assert ids_of(r) == expected_ids("root", daemon.gr_gid)
    assert r["gid"] == daemon.gr_gid


def test_nobody_with_its_group(pyinetd) -> None:
    user("nobody")
    group = first_group("nogroup", "nobody")
    r = run_as(pyinetd, f"nobody:{group.gr_name}")
    assert ids_of(r) == expected_ids("nobody", group.gr_gid)


def test_nobody_with_a_group_not_its_own(pyinetd) -> None:
    nobody = user("nobody")
    group = first_group("daemon", "bin", "sys")
    assert group.gr_gid != nobody.pw_gid
    r = run_as(pyinetd, f"nobody:{group.gr_name}")
    assert ids_of(r) == expected_ids("nobody", group.gr_gid)
    assert r["gid"] == group.gr_gid


def _user_with_supplementary_groups() -> pwd.struct_passwd | None:
    for pw in sorted(pwd.getpwall(), key=lambda p: p.pw_uid):
        if pw.pw_uid == 0:
            continue
        if len(set(os.getgrouplist(pw.pw_name, pw.pw_gid))) > 1:
            return pw
    return None


def test_user_with_supplementary_groups(pyinetd) -> None:
    pw = _user_with_supplementary_groups()
    if pw is None:
        pytest.skip("no user here belongs to a supplementary group")
    r = run_as(pyinetd, pw.pw_name)
    want = expected_ids(pw.pw_name)
    assert ids_of(r) == want
    assert len(want["groups"]) > 1  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- unprivileged


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory `nobody` can read (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="pyinetd-"))
    nobody = user("nobody")
    os.chown(path, nobody.pw_uid, nobody.pw_gid)
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _as_nobody_wrapper(directory: Path, nobody: pwd.struct_passwd) -> Path:
    """A script that runs the test's Python as nobody, or a skip when that cannot work.

    setpriv changes ids and execs in one step (the same pid, so the harness's process is
    pyinetd itself); the interpreter must be reachable by nobody, which a Python
    installed under a private home directory is not.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    wrapper = directory / "as-nobody"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"exec {setpriv} --reuid={nobody.pw_uid} --regid={nobody.pw_gid} --init-groups "
        f'{sys.executable} "$@"\n'
    )
    wrapper.chmod(0o755)
    probe = subprocess.run(
        [str(wrapper), "-c", "import pyinetd, os; print(os.getuid())"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=directory,
    )
    if probe.returncode != 0 or probe.stdout.strip() != str(nobody.pw_uid):
        pytest.skip(f"this Python cannot run as nobody: {probe.stderr.strip()[-200:]}")
    return wrapper


def test_unprivileged_daemon_runs_programs_as_itself(open_dir: Path, monkeypatch) -> None:
    nobody = user("nobody")
    wrapper = _as_nobody_wrapper(open_dir, nobody)
    sock = open_dir / "echo"
    d = Daemon(
        open_dir,
        [
            f"127.0.0.1:0 stream tcp nowait root {CONTRACT}",
            f"{sock} stream unix nowait nobody {CONTRACT}",
            f"{open_dir}/daemon stream unix nowait daemon:daemon {CONTRACT}",
        ],
    )
    monkeypatch.setattr(sys, "executable", str(wrapper))
    try:
        d.start()
        monkeypatch.undo()
        assert d.proc is not None
        with open(f"/proc/{d.proc.pid}/status") as f:
            status = f.read()
        assert f"Uid:\t{nobody.pw_uid}\t" in status

        r = report(tcp_exchange(d.addr(1)))
        assert ids_of(r) == expected_ids("nobody")
        env = r["env"]
        assert isinstance(env, dict)
        assert env["USER"] == "nobody"
        assert report(tcp_exchange(str(sock)))["uid"] == nobody.pw_uid
        assert report(tcp_exchange(f"{open_dir}/daemon"))["uid"] == nobody.pw_uid

        warnings = [line for line in d.lines if "pyinetd is not running as root" in line]
        root_label = "127.0.0.1:0/tcp"
        named = [w for w in warnings if f"{root_label}: runs as nobody, not as root:" in w]
        assert len(named) == 1, d.log()
        assert (
            sum(
                f"{open_dir}/daemon/unix: runs as nobody, not as daemon:daemon:" in w
                for w in warnings
            )
            == 1
        ), d.log()
        # The service that names nobody itself gets no warning.
        assert not any(f"{sock}/unix:" in w for w in warnings), d.log()
        assert len(warnings) == 2, d.log()
        assert d.stop() == 0
        # A second look after the connections: still exactly those two warnings.
        assert len([ln for ln in d.lines if "not running as root" in ln]) == 2
    finally:
        if d.proc is not None:
            leftovers = d.children() if d.proc.poll() is None else []
            if d.proc.poll() is None:
                d.stop()
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if d.proc.stderr is not None:
                d.proc.stderr.close()
