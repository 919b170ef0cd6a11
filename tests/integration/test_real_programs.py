"""Real servers and real clients through pyinetd, as they run under the C inetds.

The programs come from Debian packages (`make test` installs them when it runs as root);
each test is skipped, with the reason, where its tools are missing.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import WAIT, tcp_exchange, udp_exchange


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None and not Path(t).exists()]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (make test installs them as root)")


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True, **kw)  # type: ignore[call-overload, no-any-return]


def test_tftp_in_wait_mode(pyinetd, tmp_path: Path) -> None:
    need("/usr/sbin/in.tftpd", "tftp")
    root = tmp_path / "tftp"
    root.mkdir()
    payload = bytes(range(256)) * 300  # several blocks of 512
    (root / "file.bin").write_bytes(payload)
    root.chmod(0o755)
    (root / "file.bin").chmod(0o644)
    d = pyinetd([f"127.0.0.1:0 dgram udp wait root /usr/sbin/in.tftpd in.tftpd -s {root}"])
    out = tmp_path / "got.bin"
    run(["tftp", "127.0.0.1", str(d.port(1)), "-m", "binary", "-c", "get", "file.bin", str(out)])
    assert out.read_bytes() == payload
    # A second fetch: pyinetd watched the socket again once in.tftpd let go of it.
    out.unlink()
    run(["tftp", "127.0.0.1", str(d.port(1)), "-m", "binary", "-c", "get", "file.bin", str(out)])
    assert out.read_bytes() == payload


def test_http_server_in_inetd_mode_under_concurrency(pyinetd, tmp_path: Path) -> None:
    need("busybox", "curl")
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("<h1>pyinetd</h1>\n")
    busybox = shutil.which("busybox")
    d = pyinetd([f"127.0.0.1:0 stream tcp nowait root {busybox} httpd -i -h {www}"])
    url = f"http://127.0.0.1:{d.port(1)}/index.html"

    def fetch(_: int) -> str:
        return run(["curl", "-sS", "--max-time", "10", url]).stdout

    with ThreadPoolExecutor(max_workers=8) as pool:
        bodies = list(pool.map(fetch, range(40)))
    assert bodies == ["<h1>pyinetd</h1>\n"] * 40


def test_git_daemon_inetd_clone(pyinetd, tmp_path: Path) -> None:
    need("git")
    base = tmp_path / "git"
    repo = base / "project.git"
    work = tmp_path / "work"
    run(["git", "init", "-q", "--bare", str(repo)])
    run(["git", "init", "-q", str(work)])
    (work / "README").write_text("served by pyinetd\n")
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    run(["git", "-C", str(work), "add", "README"], env=env)
    run(["git", "-C", str(work), "commit", "-qm", "first"], env=env)
    run(["git", "-C", str(work), "push", "-q", str(repo), "HEAD:refs/heads/main"], env=env)
    (repo / "git-daemon-export-ok").touch()
    git = shutil.which("git")
    d = pyinetd(
        [f"127.0.0.1:0 stream tcp nowait root {git} git daemon --inetd --base-path={base} {base}"]
    )
    clone = tmp_path / "clone"
    run(
        [
            "git",
            "clone",
            "-q",
            "-b",
            "main",
            f"git://127.0.0.1:{d.port(1)}/project.git",
            str(clone),
        ],
        env=env,
    )
    assert (clone / "README").read_text() == "served by pyinetd\n"


def test_rsync_daemon(pyinetd, tmp_path: Path) -> None:
    need("rsync")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("alpha\n")
    conf = tmp_path / "rsyncd.conf"
    conf.write_text(
        f"use chroot = no\nuid = root\ngid = root\n[data]\npath = {data}\nread only = yes\n"
    )
    rsync = shutil.which("rsync")
    d = pyinetd([f"127.0.0.1:0 stream tcp nowait root {rsync} rsync --daemon --config={conf}"])
    dest = tmp_path / "dest"
    run(["rsync", "-a", f"rsync://127.0.0.1:{d.port(1)}/data/", f"{dest}/"])
    assert (dest / "a.txt").read_text() == "alpha\n"


def test_fingerd_with_finger(pyinetd) -> None:
    need("/usr/sbin/in.fingerd", "finger")
    d = pyinetd(["127.0.0.1:0 stream tcp nowait nobody /usr/sbin/in.fingerd in.fingerd"])
    # finger(1) has no port option; speak its protocol (RFC 1288) the way it does.
    reply = tcp_exchange(d.addr(1), b"root\r\n").decode()
    assert "Login: root" in reply


def test_builtins_byte_for_byte_with_socat(pyinetd) -> None:
    need("socat")
    d = pyinetd(
        [
            "127.0.0.1:0 stream tcp nowait root internal echo",
            "127.0.0.1:0 stream tcp nowait root internal time",
            "127.0.0.1:0 dgram udp wait root internal echo",
        ]
    )
    echoed = subprocess.run(
        ["socat", "-t", "5", "-", f"TCP:127.0.0.1:{d.port(1)}"],
        input=b"byte\x00for\xffbyte\r\n",
        capture_output=True,
        timeout=WAIT,
        check=True,
    ).stdout
    assert echoed == b"byte\x00for\xffbyte\r\n"
    t = subprocess.run(
        ["socat", "-u", f"TCP:127.0.0.1:{d.port(2)}", "-"],
        capture_output=True,
        timeout=WAIT,
        check=True,
    ).stdout
    assert len(t) == 4
    udp = subprocess.run(
        ["socat", "-t", "2", "-", f"UDP:127.0.0.1:{d.port(3)}"],
        input=b"datagram",
        capture_output=True,
        timeout=WAIT,
        check=True,
    ).stdout
    assert udp == b"datagram"
    assert udp_exchange(d.addr(3), b"again")[0] == b"again"
