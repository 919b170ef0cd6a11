"""pyinetd's benchmark: pyinetd against Debian's openbsd-inetd and a C spawn loop, in one run.

Owns building the C helpers in bench/, installing openbsd-inetd when it is missing, starting
and always stopping every daemon it runs, driving them with bench/loadgen, and writing
bench/out/results.md (plus raw results.json and the daemons' logs). It is not part of the
test suite and must not import pyinetd: it measures the installed `pyinetd` command from the
outside, as a user would run it. Every socket it touches is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shlex
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BUILD = BENCH / "build"
OUT = BENCH / "out"
LOGS = OUT / "logs"
PYINETD = ROOT / ".venv" / "bin" / "pyinetd"
OBSD_INETD = Path("/usr/sbin/inetd")
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
HOST = "127.0.0.1"
CONCURRENCY = (1, 8, 64)
SERVICE_COUNTS = (1, 500, 2000)
PAYLOAD = "pyinetd-bench-18b\n"
C_PROGRAMS = ("loadgen", "spawnref", "udpreply")
# Below the kernel's ephemeral range (32768-60999 here), so no client socket of the bench
# can ever hold a port a daemon is about to bind.
PORT_RANGE = (20000, 32000)
# openbsd-inetd counts spawns per service per minute and shuts a service off for ten minutes
# when it passes -R; the bench must never trip that, so the limit is INT_MAX.
OBSD_RATE = "2147483647"
# -i keeps openbsd-inetd in the foreground as it runs in production; its -d would also
# print several debugging lines per connection, which is not what it does when deployed.
OBSD_FLAGS = ("-i", "-R", OBSD_RATE)
PYINETD_FLAGS = ("-d", "-R", "0")
PY, OBSD, REF = "pyinetd", "openbsd-inetd", "reference"
SIDES = (PY, OBSD, REF)
# From the bench's start: the load phase ends by the first, the start-up phase by the
# second, so `make bench` (apt-get included) stays under ten minutes.
MAIN_BUDGET_S = 470.0
TOTAL_BUDGET_S = 570.0
QUIET_PCT = 15.0


@dataclass(frozen=True)
class Scenario:
    """One row group: what the services run and what the client sends and expects."""

    name: str
    kind: str  # "builtin", "program" or "udp"
    target: float  # the pyinetd/openbsd-inetd ratio the issue asks for
    builtin: str | None = None
    program: tuple[str, ...] = ()  # path, then argv (argv[0] included)
    client: tuple[str, ...] = ()

    @property
    def has_reference(self) -> bool:
        return self.kind != "builtin"


SCENARIOS = (
    Scenario("daytime/tcp built-in", "builtin", 0.6, builtin="daytime", client=("-E", "2")),
    Scenario(
        "echo/tcp built-in, 18 B",
        "builtin",
        3.0,
        builtin="echo",
        client=("-P", PAYLOAD, "-H", "-e", PAYLOAD),
    ),
    Scenario("/bin/true", "program", 0.9, program=("/bin/true", "true"), client=("-e", "")),
    Scenario(
        "/bin/cat, 18 B",
        "program",
        0.9,
        program=("/bin/cat", "cat"),
        client=("-P", PAYLOAD, "-H", "-e", PAYLOAD),
    ),
    Scenario(
        "/bin/echo hello",
        "program",
        0.9,
        program=("/bin/echo", "echo", "hello"),
        client=("-e", "hello\n"),
    ),
    Scenario(
        "udp wait, udpreply",
        "udp",
        1.0,
        program=(str(BUILD / "udpreply"), "udpreply"),
        client=("-m", "udp"),
    ),
)


class BenchError(Exception):
    """A step of the bench could not be done; the message says which and why."""


class DaemonFailed(BenchError):
    """A daemon did not start, or stopped while it was being measured."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# Setup: the C helpers and openbsd-inetd


def run_quiet(argv: Sequence[str], what: str, timeout: float) -> None:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        res = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BenchError(f"{what}: {exc}") from exc
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise BenchError(f"{what}: exit status {res.returncode}: {' | '.join(tail)}")


def apt_install(packages: Sequence[str]) -> None:
    """apt-get install without letting a package start its service on this machine."""
    if os.geteuid() != 0:
        raise BenchError(f"installing {' '.join(packages)} needs root")
    created = False
    if not POLICY_RC_D.exists():
        # invoke-rc.d asks this script whether a maintainer script may start a service;
        # 101 means "action forbidden", so the package installs without a system inetd.
        POLICY_RC_D.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
        created = True
    try:
        log(f"bench: apt-get update && apt-get install -y {' '.join(packages)}")
        run_quiet(["apt-get", "update", "-q"], "apt-get update", 300)
        run_quiet(["apt-get", "install", "-y", "-q", *packages], "apt-get install", 300)
    finally:
        if created:
            POLICY_RC_D.unlink(missing_ok=True)


def build_c() -> None:
    if shutil.which("gcc") is None:
        apt_install(["gcc", "libc6-dev"])
    BUILD.mkdir(parents=True, exist_ok=True)
    for name in C_PROGRAMS:
        src, exe = BENCH / f"{name}.c", BUILD / name
        if exe.exists() and exe.stat().st_mtime >= src.stat().st_mtime:
            continue
        run_quiet(
            ["gcc", "-O2", "-Wall", "-Wextra", "-o", str(exe), str(src)], f"gcc {src.name}", 120
        )


def openbsd_inetd_installed() -> bool:
    try:
        res = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", "openbsd-inetd"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return res.stdout.strip() == "install ok installed" and OBSD_INETD.exists()


def ensure_openbsd_inetd() -> str | None:
    """None when /usr/sbin/inetd is openbsd-inetd's, else why it could not be had."""
    if openbsd_inetd_installed():
        return None
    try:
        apt_install(["openbsd-inetd"])
    except BenchError as exc:
        return str(exc)
    if not openbsd_inetd_installed():
        return "openbsd-inetd did not install"
    return None


# ---------------------------------------------------------------------------------------
# Ports, processes and /proc


class Ports:
    """Free 127.0.0.1 ports, none handed out twice while in use."""

    def __init__(self) -> None:
        self.used: set[int] = set()
        self.rng = random.Random()

    @staticmethod
    def free(port: int, kind: socket.SocketKind) -> bool:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                return False
        return True

    def take(self, udp: bool = False) -> int:
        for _ in range(20000):
            port = self.rng.randrange(*PORT_RANGE)
            if port in self.used:
                continue
            if self.free(port, socket.SOCK_STREAM) and (
                not udp or self.free(port, socket.SOCK_DGRAM)
            ):
                self.used.add(port)
                return port
        raise BenchError(f"no free port left in {PORT_RANGE} on {HOST}")

    def release(self, ports: Sequence[int]) -> None:
        self.used.difference_update(ports)


def proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_ticks(pid: int) -> int:
    """utime + stime of the process itself (all threads), in clock ticks."""
    st = proc_stat(pid)
    return int(st[11]) + int(st[12]) if st else 0


def child_ticks(pid: int) -> int:
    """cutime + cstime: CPU of the children the process has reaped, in clock ticks."""
    st = proc_stat(pid)
    return int(st[13]) + int(st[14]) if st else 0


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = sum(fields[:8])
    return total - fields[3] - fields[4], total


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        st = proc_stat(int(entry.name))
        if st:
            children.setdefault(int(st[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def rss_kib(pids: Sequence[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def udp_bound(ports: Sequence[int]) -> bool:
    bound = set()
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        local = line.split()[1]
        addr, port = local.split(":")
        if addr in ("0100007F", "00000000"):
            bound.add(int(port, 16))
    return all(p in bound for p in ports)


def probe(port: int) -> bool:
    """One TCP connect; reset on close so neither side keeps the port in TIME_WAIT."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.settimeout(1.0)
        try:
            return s.connect_ex((HOST, port)) == 0
        except OSError:
            return False


class Daemon:
    """One server process of the bench, stopped for sure by `stop` (called from finally)."""

    registry: list[Daemon] = []

    def __init__(self, side: str, tag: str, argv: Sequence[str]) -> None:
        self.side, self.tag, self.argv = side, tag, list(argv)
        self.logpath = LOGS / f"{tag}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        with open(self.logpath, "wb") as logf:
            self.started_at = time.monotonic()
            # A session of its own: the bench's Ctrl-C does not reach it before its turn
            # to be stopped, and whatever it leaves behind can be found by its group.
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        Daemon.registry.append(self)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def why_dead(self) -> str:
        assert self.proc is not None
        status = self.proc.poll()
        lines = [ln.strip() for ln in self.log_tail().splitlines() if ln.strip()]
        detail = lines[-1] if lines else "no output"
        return f"exit status {status}: {detail}"

    def log_tail(self, size: int = 4096) -> str:
        try:
            with open(self.logpath, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - size))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, tcp: Sequence[int], udp: Sequence[int], timeout: float) -> float:
        """Seconds from start until every TCP port accepts and every UDP port is bound."""
        deadline = time.monotonic() + timeout
        pending = list(tcp)
        while True:
            if not self.alive():
                raise DaemonFailed(self.why_dead())
            # Daemons bind in config order, so the first refusal ends a pass; a port that
            # accepted is never probed again (each probe to a program service spawns it).
            for i, port in enumerate(pending):
                if not probe(port):
                    pending = pending[i:]
                    break
            else:
                pending = []
            if not pending and udp_bound(udp):
                return time.monotonic() - self.started_at
            if time.monotonic() > deadline:
                raise DaemonFailed(
                    f"{len(pending)} of {len(tcp)} TCP ports not accepting after {timeout:g} s"
                )
            time.sleep(0.002)

    def wait_idle(self, timeout: float) -> None:
        """Until the daemon has no children and used no CPU for 0.3 s (bounded)."""
        deadline = time.monotonic() + timeout
        quiet_since, last = time.monotonic(), cpu_ticks(self.pid)
        while time.monotonic() < deadline:
            time.sleep(0.05)
            ticks = cpu_ticks(self.pid)
            if ticks != last or descendants(self.pid):
                quiet_since, last = time.monotonic(), ticks
            elif time.monotonic() - quiet_since >= 0.3:
                return

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(timeout=5)
        # Children that stayed in the daemon's process group (openbsd-inetd does not
        # setsid its children) must not outlive the bench.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self in Daemon.registry:
            Daemon.registry.remove(self)

    @classmethod
    def stop_all(cls) -> None:
        for d in list(cls.registry):
            with contextlib.suppress(Exception):
                d.stop()


# ---------------------------------------------------------------------------------------
# Configs


def with_private_services(services_file: Path, argv: Sequence[str]) -> list[str]:
    """argv run in a mount namespace where `services_file` is /etc/services.

    Every inetd looks a built-in up by its service name, and the name decides the port
    (numeric ports cannot name a built-in), so high free ports for daytime and echo come
    from a private /etc/services that only this daemon sees.
    """
    script = 'mount --bind "$0" /etc/services && exec "$@"'
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        script,
        str(services_file),
        *argv,
    ]


def namespace_works(tmp: Path) -> str | None:
    """None when a private /etc/services can be had, else why not."""
    if shutil.which("unshare") is None:
        return "no unshare(1)"
    probe_file = tmp / "services.probe"
    probe_file.write_text("daytime\t24013/tcp\n" + Path("/etc/services").read_text())
    argv = with_private_services(probe_file, ["getent", "services", "daytime/tcp"])
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare: {exc}"
    if "24013/tcp" not in res.stdout:
        return f"a private /etc/services did not work: {res.stderr.strip() or res.stdout}"
    return None


@dataclass
class SideSetup:
    """One daemon of the main phase: its services' ports and what runs them."""

    side: str
    ports: dict[str, int] = field(default_factory=dict)  # scenario name -> port
    daemons: list[Daemon] = field(default_factory=list)
    daemon_for: dict[str, Daemon] = field(default_factory=dict)  # scenario name -> daemon
    failed: str | None = None
    unsupported: dict[str, str] = field(default_factory=dict)  # scenario -> why n/a


def inetd_line(sc: Scenario, port: int, user: str) -> str:
    if sc.builtin:
        return f"{HOST}:{sc.builtin}\tstream\ttcp\tnowait\t{user}\tinternal"
    args = " ".join(sc.program[1:])
    if sc.kind == "udp":
        return f"{HOST}:{port}\tdgram\tudp\twait\t{user}\t{sc.program[0]}\t{args}"
    return f"{HOST}:{port}\tstream\ttcp\tnowait\t{user}\t{sc.program[0]}\t{args}"


FLAGS = {PY: list(PYINETD_FLAGS), OBSD: list(OBSD_FLAGS)}


def daemon_argv(side: str, conf: Path) -> list[str]:
    binary = PYINETD if side == PY else OBSD_INETD
    return [str(binary), *FLAGS[side], str(conf)]


def user_name() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def setup_inetd(side: str, ports: Ports, tmp: Path, ns_problem: str | None) -> SideSetup:
    setup = SideSetup(side)
    user = user_name()
    lines, svc_lines = [], []
    for sc in SCENARIOS:
        if sc.builtin and ns_problem:
            setup.unsupported[sc.name] = (
                f"n/a (built-ins need a private /etc/services: {ns_problem})"
            )
            continue
        port = ports.take(udp=sc.kind == "udp")
        setup.ports[sc.name] = port
        lines.append(inetd_line(sc, port, user))
        if sc.builtin:
            svc_lines.append(f"{sc.builtin}\t{port}/tcp\n")
    conf = tmp / f"{side}.conf"
    conf.write_text("# written by bench/run.py\n" + "\n".join(lines) + "\n")
    argv = daemon_argv(side, conf)
    if not ns_problem:
        services = tmp / f"{side}.services"
        services.write_text("".join(svc_lines) + Path("/etc/services").read_text())
        argv = with_private_services(services, argv)
    daemon = Daemon(side, f"{side}-main", argv)
    setup.daemons.append(daemon)
    setup.daemon_for = dict.fromkeys(setup.ports, daemon)
    return setup


def setup_reference(ports: Ports) -> SideSetup:
    setup = SideSetup(REF)
    for sc in SCENARIOS:
        if not sc.has_reference:
            continue
        port = ports.take(udp=sc.kind == "udp")
        setup.ports[sc.name] = port
        mode = "udp" if sc.kind == "udp" else "tcp"
        argv = [str(BUILD / "spawnref"), mode, HOST, str(port), *sc.program]
        tag = "reference-" + "".join(c if c.isalnum() else "-" for c in sc.name).strip("-")
        daemon = Daemon(REF, tag, argv)
        setup.daemons.append(daemon)
        setup.daemon_for[sc.name] = daemon
    return setup


def start_side(setup: SideSetup) -> None:
    if setup.failed:
        return
    try:
        for d in setup.daemons:
            d.start()
        for name, port in setup.ports.items():
            udp = scenario(name).kind == "udp"
            setup.daemon_for[name].wait_ready(
                [] if udp else [port], [port] if udp else [], timeout=15
            )
    except (OSError, DaemonFailed) as exc:
        setup.failed = f"n/a (daemon failed to start: {exc})"
        log(f"bench: {setup.side}: {setup.failed}")
        for d in setup.daemons:
            d.stop()


def scenario(name: str) -> Scenario:
    return next(sc for sc in SCENARIOS if sc.name == name)


# ---------------------------------------------------------------------------------------
# Measuring


@dataclass
class Args:
    duration: float
    reps: int
    install: bool
    startup: bool
    quiet_wait: float


def loadgen(sc: Scenario, port: int, conc: int, duration: float) -> dict[str, Any]:
    argv = [
        str(BUILD / "loadgen"),
        "-a",
        HOST,
        "-p",
        str(port),
        "-c",
        str(conc),
        "-d",
        str(duration),
        "-n",
        "2000000",
        "-g",
        "2",
        *sc.client,
    ]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 20, check=False)
    if res.returncode != 0:
        raise BenchError(f"loadgen: exit status {res.returncode}: {res.stderr.strip()}")
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def measure(setup: SideSetup, sc: Scenario, conc: int, duration: float) -> dict[str, Any]:
    port = setup.ports[sc.name]
    daemon = setup.daemon_for[sc.name]
    if not daemon.alive():
        raise DaemonFailed(f"stopped during the run: {daemon.why_dead()}")
    d0, c0, (b0, t0) = cpu_ticks(daemon.pid), child_ticks(daemon.pid), machine_ticks()
    result = loadgen(sc, port, conc, duration)
    d1, c1, (b1, t1) = cpu_ticks(daemon.pid), child_ticks(daemon.pid), machine_ticks()
    hz = os.sysconf("SC_CLK_TCK")
    wall = max(result["elapsed_s"], 1e-6)
    result["daemon_cpu_pct"] = round(100.0 * (d1 - d0) / hz / wall, 1)
    ops = max(int(result["completed"]), 1)
    result["daemon_cpu_us_per_op"] = round(1e6 * (d1 - d0) / hz / ops, 1)
    result["child_cpu_ms_per_op"] = round(1000.0 * (c1 - c0) / hz / ops, 3)
    result["client_cpu_pct"] = round(100.0 * result["client_cpu_s"] / wall, 1)
    result["machine_busy_pct"] = round(100.0 * (b1 - b0) / max(t1 - t0, 1), 1)
    if not daemon.alive():
        raise DaemonFailed(f"stopped during the run: {daemon.why_dead()}")
    return result


@dataclass
class Cell:
    runs: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None

    def median(self, key: str) -> float:
        return float(statistics.median(float(r[key]) for r in self.runs))

    def failures(self) -> int:
        return sum(int(r["failures"]) for r in self.runs)


def main_phase(
    args: Args, setups: dict[str, SideSetup], deadline: float
) -> dict[tuple[str, int, str], Cell]:
    cells: dict[tuple[str, int, str], Cell] = {}
    for sc in SCENARIOS:
        sides = [s for s in SIDES if s != REF or sc.has_reference]
        for side in sides:
            setup = setups[side]
            if setup.failed is None and sc.name in setup.ports:
                # One short untimed pass so no side pays for first-touch page faults.
                with contextlib.suppress(BenchError):
                    measure(setup, sc, 8, min(0.3, args.duration))
        for conc in CONCURRENCY:
            for side in sides:
                cells[(sc.name, conc, side)] = Cell()
            for rep in range(args.reps):
                # Sides take turns within each repetition, in an order rotated each time, so
                # a drift of the machine (other work, heat) touches all of them alike.
                for side in sides[rep % len(sides) :] + sides[: rep % len(sides)]:
                    setup, cell = setups[side], cells[(sc.name, conc, side)]
                    if setup.failed or sc.name in setup.unsupported or cell.note:
                        continue
                    if time.monotonic() > deadline:
                        cell.note = "n/a (time budget spent)"
                        continue
                    try:
                        r = measure(setup, sc, conc, args.duration)
                    except DaemonFailed as exc:
                        setup.failed = f"n/a (daemon {exc})"
                        continue
                    except BenchError as exc:
                        cell.note = f"n/a ({exc})"
                        continue
                    cell.runs.append(r)
                    log(
                        f"bench: {sc.name:<26} c={conc:<3} {side:<14} #{rep + 1} "
                        f"{r['ops_per_s']:>9.1f} ops/s  p50 {r['p50_ms']:.2f} ms  "
                        f"p99 {r['p99_ms']:.2f} ms  fail {r['failures']}  "
                        f"cpu daemon {r['daemon_cpu_pct']}% client {r['client_cpu_pct']}% "
                        f"child {r['child_cpu_ms_per_op']} ms/op "
                        f"machine {r['machine_busy_pct']}%"
                    )
    return cells


@dataclass
class StartupCell:
    ready_s: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    note: str | None = None


def startup_phase(
    ports: Ports, tmp: Path, problems: dict[str, str | None], reps: int, deadline: float
) -> dict[tuple[int, str], StartupCell]:
    cells: dict[tuple[int, str], StartupCell] = {}
    user = user_name()
    problems = dict(problems)
    for n in SERVICE_COUNTS:
        for side in (PY, OBSD):
            cells[(n, side)] = StartupCell(note=problems[side])
        for rep in range(reps):
            for side in (PY, OBSD):
                cell = cells[(n, side)]
                if cell.note:
                    continue
                if time.monotonic() > deadline:
                    cell.note = "n/a (time budget spent)"
                    continue
                taken = [ports.take() for _ in range(n)]
                conf = tmp / f"{side}-{n}.conf"
                conf.write_text(
                    "".join(
                        f"{HOST}:{p}\tstream\ttcp\tnowait\t{user}\t/bin/true\ttrue\n" for p in taken
                    )
                )
                d = Daemon(side, f"{side}-startup-{n}-{rep + 1}", daemon_argv(side, conf))
                try:
                    d.start()
                    ready = d.wait_ready(taken, [], timeout=10 + n / 100)
                    d.wait_idle(timeout=10)
                    rss = rss_kib([d.pid, *descendants(d.pid)])
                except (OSError, DaemonFailed) as exc:
                    cell.note = f"n/a (daemon failed to start: {exc})"
                    log(f"bench: {side} with {n} services: {cell.note}")
                    # A daemon that cannot start with n services will not with more; one
                    # bounded wait per side is enough.
                    problems[side] = cell.note
                    continue
                finally:
                    d.stop()
                    ports.release(taken)
                cell.ready_s.append(ready)
                cell.rss_kib.append(rss)
                log(
                    f"bench: {n:>5} services  {side:<14} #{rep + 1} ready in {ready:.3f} s, "
                    f"idle RSS {rss / 1024:.1f} MiB"
                )
    return cells


# ---------------------------------------------------------------------------------------
# Report


def fmt_ops(cell: Cell, side_note: str | None) -> str:
    if side_note:
        return side_note
    if cell.note:
        return cell.note
    if not cell.runs:
        return "n/a"
    return f"{cell.median('ops_per_s'):.0f}"


def fmt_lat(cell: Cell) -> str:
    if not cell.runs:
        return "-"
    return f"{cell.median('p50_ms'):.2f} / {cell.median('p99_ms'):.2f}"


def shorten(text: str, limit: int = 90) -> str:
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def report(
    args: Args,
    setups: dict[str, SideSetup],
    cells: dict[tuple[str, int, str], Cell],
    startup: dict[tuple[int, str], StartupCell],
    started: float,
    idle_busy: float,
) -> str:
    out: list[str] = []
    out.append("# pyinetd benchmark\n")
    out.append(
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} CPUs, "
        f"{platform_line()}. Each figure is the median of {args.reps} runs of "
        f"{args.duration:g} s; ops/s = completed operations per second; latencies in ms; "
        f"failures are summed over the runs. Sides take turns within each repetition, "
        "in a rotating order. "
        f"Before the bench started, {idle_busy:.0f}% of the machine's CPU time went to "
        "other work; `machine busy %` is the whole machine during the row's runs.\n"
    )
    out.append(
        f"pyinetd: `{PYINETD.relative_to(ROOT)} {' '.join(FLAGS[PY])} CONF`; openbsd-inetd: "
        f"`{OBSD_INETD} {' '.join(FLAGS[OBSD])} CONF`; reference: `bench/spawnref` "
        "(accept, fork, dup2 to 0/1/2, exec), for the program scenarios.\n"
    )
    header = (
        "| scenario | conc | pyinetd ops/s | openbsd-inetd ops/s | reference ops/s "
        "| pyinetd / openbsd | target | pyinetd p50 / p99 | openbsd p50 / p99 "
        "| reference p50 / p99 | failures py / obsd / ref | daemon CPU %, µs/op py / obsd "
        "| child CPU ms/op py / obsd / ref | machine busy % |"
    )
    out.append(header)
    out.append("|" + "---|" * (header.count("|") - 1))
    for sc in SCENARIOS:
        for conc in CONCURRENCY:
            c_py, c_ob = cells[(sc.name, conc, PY)], cells[(sc.name, conc, OBSD)]
            c_ref = cells.get((sc.name, conc, REF))
            note = {s: setups[s].failed or setups[s].unsupported.get(sc.name) for s in SIDES}
            ratio, verdict = "-", "-"
            if c_py.runs and c_ob.runs:
                r = c_py.median("ops_per_s") / max(c_ob.median("ops_per_s"), 1e-9)
                ratio = f"{r:.2f}x"
                verdict = f"{'met' if r >= sc.target else 'MISSED'} (>= {sc.target:g}x)"
            else:
                verdict = f">= {sc.target:g}x"
            ref_ops = fmt_ops(c_ref, note[REF]) if c_ref is not None else "-"
            ref_lat = fmt_lat(c_ref) if c_ref is not None else "-"
            fails = " / ".join(
                str(c.failures()) if c is not None and c.runs else "-" for c in (c_py, c_ob, c_ref)
            )
            cpu = " / ".join(
                f"{c.median('daemon_cpu_pct'):.0f}%, {c.median('daemon_cpu_us_per_op'):.0f}"
                if c.runs
                else "-"
                for c in (c_py, c_ob)
            )
            child_cpu = " / ".join(
                f"{c.median('child_cpu_ms_per_op'):.2f}" if c is not None and c.runs else "-"
                for c in (c_py, c_ob, c_ref)
            )
            all_runs = [r for c in (c_py, c_ob, c_ref) if c is not None for r in c.runs]
            busy = (
                f"{statistics.median(r['machine_busy_pct'] for r in all_runs):.0f}"
                if all_runs
                else "-"
            )
            out.append(
                f"| {sc.name} | {conc} | {shorten(fmt_ops(c_py, note[PY]))} "
                f"| {shorten(fmt_ops(c_ob, note[OBSD]))} | {shorten(ref_ops)} | {ratio} "
                f"| {verdict} | {fmt_lat(c_py)} | {fmt_lat(c_ob)} | {ref_lat} | {fails} | {cpu} "
                f"| {child_cpu} | {busy} |"
            )
    out.append("")
    out.append(
        "Idle RSS and start-up: one `/bin/true` nowait TCP service per port; ready = from "
        "starting the command to every port accepting a connection (polled); RSS = the "
        "daemon and its descendants once idle.\n"
    )
    out.append(
        "| services | pyinetd ready s | openbsd-inetd ready s | pyinetd idle RSS MiB "
        "| openbsd-inetd idle RSS MiB | target |"
    )
    out.append("|---|---|---|---|---|---|")
    for n in SERVICE_COUNTS:
        s_py, s_ob = startup[(n, PY)], startup[(n, OBSD)]
        target = "-"
        if n == 500:
            target = "ready <= 0.5 s, RSS < 40 MiB"
            if s_py.ready_s:
                ok = statistics.median(s_py.ready_s) <= 0.5 and (
                    statistics.median(s_py.rss_kib) < 40 * 1024
                )
                target += ": met" if ok else ": MISSED"
        out.append(
            f"| {n} | {ready(s_py)} | {ready(s_ob)} | {rss(s_py)} | {rss(s_ob)} | {target} |"
        )
    out.append("")
    for side in SIDES:
        if setups[side].failed:
            out.append(f"- {side}: {setups[side].failed}")
    out.append(
        f"\nTotal bench time: {time.monotonic() - started:.0f} s. Raw runs: "
        "bench/out/results.json; daemon logs: bench/out/logs/."
    )
    return "\n".join(out) + "\n"


def ready(c: StartupCell) -> str:
    if c.ready_s:
        return f"{statistics.median(c.ready_s):.3f}"
    return shorten(c.note or "n/a")


def rss(c: StartupCell) -> str:
    return f"{statistics.median(c.rss_kib) / 1024:.1f}" if c.rss_kib else "-"


def background_busy(seconds: float = 1.0) -> float:
    """Percent of all CPUs busy while the bench itself does nothing: other people's load."""
    b0, t0 = machine_ticks()
    time.sleep(seconds)
    b1, t1 = machine_ticks()
    return 100.0 * (b1 - b0) / max(t1 - t0, 1)


def wait_quiet(limit: float) -> float:
    """Wait up to `limit` seconds for other work to fall under QUIET_PCT; the last sample.

    Other sessions share this machine; a bench started under their load measures them.
    """
    deadline = time.monotonic() + limit
    busy = background_busy()
    while busy > QUIET_PCT and time.monotonic() < deadline:
        log(f"bench: the machine is {busy:.0f}% busy with other work; waiting for it")
        busy = background_busy(2.0)
    if busy > QUIET_PCT:
        log(f"bench: warning: starting with the machine {busy:.0f}% busy; figures will be noisy")
    return busy


def platform_line() -> str:
    try:
        model = next(
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        )
    except (OSError, StopIteration):
        model = "unknown CPU"
    return f"{model}, Linux {os.uname().release}"


# ---------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> Args:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--duration", type=float, default=2.0, help="seconds per run (default 2)")
    p.add_argument("--reps", type=int, default=3, help="runs per cell (default 3)")
    p.add_argument("--no-install", action="store_true", help="never run apt-get")
    p.add_argument("--no-startup", action="store_true", help="skip the RSS/start-up table")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="seconds to wait at most for other load to settle first (default 30)",
    )
    p.add_argument(
        "--pyinetd-flags",
        default=" ".join(PYINETD_FLAGS),
        help="pyinetd's options before CONF (default: %(default)s)",
    )
    p.add_argument(
        "--obsd-flags",
        default=" ".join(OBSD_FLAGS),
        help="openbsd-inetd's options before CONF (default: %(default)s)",
    )
    ns = p.parse_args(argv)
    FLAGS[PY] = shlex.split(ns.pyinetd_flags)
    FLAGS[OBSD] = shlex.split(ns.obsd_flags)
    if not 0.1 <= ns.duration <= 30 or not 1 <= ns.reps <= 9:
        p.error("--duration must be in [0.1, 30] and --reps in [1, 9]")
    if not 0 <= ns.quiet_wait <= 120:
        p.error("--quiet-wait must be in [0, 120]")
    return Args(ns.duration, ns.reps, not ns.no_install, not ns.no_startup, ns.quiet_wait)


@contextlib.contextmanager
def terminate_as_exception() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C, so every daemon is stopped on the way out."""

    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    OUT.mkdir(parents=True, exist_ok=True)
    if LOGS.exists():
        shutil.rmtree(LOGS)
    tmp = OUT / "conf"
    tmp.mkdir(parents=True, exist_ok=True)
    with terminate_as_exception():
        try:
            build_c()
            obsd_problem = None
            if args.install:
                obsd_problem = ensure_openbsd_inetd()
            elif not openbsd_inetd_installed():
                obsd_problem = "openbsd-inetd is not installed (--no-install)"
            idle_busy = wait_quiet(args.quiet_wait)
            ns_problem = namespace_works(tmp)
            if ns_problem:
                log(f"bench: built-in scenarios skipped: {ns_problem}")
            ports = Ports()
            setups = {
                PY: setup_inetd(PY, ports, tmp, ns_problem),
                OBSD: setup_inetd(OBSD, ports, tmp, ns_problem),
                REF: setup_reference(ports),
            }
            if obsd_problem:
                setups[OBSD].failed = f"n/a ({obsd_problem})"
            if not PYINETD.exists():
                setups[PY].failed = f"n/a (daemon failed to start: no {PYINETD})"
            for setup in setups.values():
                start_side(setup)
            cells = main_phase(args, setups, started + MAIN_BUDGET_S)
            for setup in setups.values():
                for d in setup.daemons:
                    d.stop()
            startup: dict[tuple[int, str], StartupCell] = {}
            problems = {
                PY: setups[PY].failed if not PYINETD.exists() else None,
                OBSD: setups[OBSD].failed if obsd_problem else None,
            }
            if args.startup:
                startup = startup_phase(ports, tmp, problems, args.reps, started + TOTAL_BUDGET_S)
            else:
                startup = {
                    (n, s): StartupCell(note="n/a (--no-startup)")
                    for n in SERVICE_COUNTS
                    for s in (PY, OBSD)
                }
            text = report(args, setups, cells, startup, started, idle_busy)
            (OUT / "results.md").write_text(text)
            raw = {
                "args": vars(args),
                "runs": [
                    {"scenario": k[0], "concurrency": k[1], "side": k[2], **r}
                    for k, c in cells.items()
                    for r in c.runs
                ],
                "startup": [
                    {
                        "services": k[0],
                        "side": k[1],
                        "ready_s": c.ready_s,
                        "rss_kib": c.rss_kib,
                        "note": c.note,
                    }
                    for k, c in startup.items()
                ],
            }
            (OUT / "results.json").write_text(json.dumps(raw, indent=1) + "\n")
            print(text)
            return 0
        except BenchError as exc:
            log(f"bench: {exc}")
            return 1
        except KeyboardInterrupt:
            log("bench: interrupted; stopping every daemon")
            return 130
        finally:
            Daemon.stop_all()


if __name__ == "__main__":
    sys.exit(main())
