"""The supervisor: the one owner of mutable runtime state.

It binds listeners, watches them on the asyncio loop, accepts and dispatches connections
(builtins in-process, programs through spawn), reaps children through pidfds, applies
reloads and stops. Decisions (limits, the reload diff) come from the pure layers; this
module only acts on them. It never prints and never exits the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import os
import resource
import signal
import socket
import struct
import subprocess
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field

from pyinetd import builtins, limits, net, reload, spawn
from pyinetd.errors import BindError, SpawnError
from pyinetd.model import Config, Family, Service, SocketType

log = logging.getLogger(__name__)

# How many connections or datagrams one wake-up of a listener may take before the loop
# gets a turn for everything else.
_BATCH = 64
# A wait-mode server that exits without reading its datagram (or a wait-mode program that
# cannot be started) leaves the socket readable; watching again at once would respawn it
# in a busy loop.
_RETRY_DELAY = 1.0
# So many exits in a row without reading the datagram is a server looping, whatever the
# invocation rate: the looping guard pauses it (FreeBSD's inetd relies on the rate alone,
# which a one-second retry never reaches).
_UNREAD_LOOPING = 3
# accept() failing for want of descriptors would fail again at once: back off instead.
_FD_EXHAUSTION_DELAY = 1.0


@dataclass(frozen=True)
class Options:
    """Runtime settings from the command line (the config file gives the services)."""

    log_connections: bool = False
    bind: net.BindAddresses = field(default_factory=net.BindAddresses)
    keep_env: bool = False
    defaults: limits.Defaults = field(default_factory=limits.Defaults)


class Child:
    """A running program, or (pid < 0) an in-process builtin session being counted."""

    __slots__ = ("pid", "proc", "pidfd", "runtime", "peer", "datagram", "holds_listener")

    def __init__(
        self,
        pid: int,
        proc: subprocess.Popen[bytes] | None,
        runtime: Runtime,
        peer: str | None,
        datagram: tuple[object, bytes] | None = None,
    ) -> None:
        self.pid = pid
        self.proc = proc
        self.pidfd: int | None = None
        self.runtime = runtime
        self.peer = peer  # numeric IP for the per-IP limits; None for UNIX peers
        self.datagram = datagram
        self.holds_listener = False  # it got the listening socket itself (wait, dgram)


class Runtime:
    """What the supervisor keeps for one service: its socket, limiter, children and tasks."""

    def __init__(self, service: Service, defaults: limits.Defaults) -> None:
        self.service = service
        self.limiter = limits.Limiter.for_service(service, defaults)
        self.sock: socket.socket | None = None
        self.address = ""
        self.watching = False
        self.held = 0  # timers (fd back-off, unread datagram, pause) keeping it unwatched
        self.children: dict[int, Child] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.creds: spawn.Credentials | None = None
        self.env: dict[str, str] = {}
        self.retry: asyncio.TimerHandle | None = None
        self.removed = False
        self.unread_streak = 0  # wait-dgram children in a row that left their datagram
        self.unix_inode: int | None = None  # our socket file, so we never unlink another

    @property
    def label(self) -> str:
        return self.service.label

    @property
    def hands_over_socket(self) -> bool:
        """Whether children get the listening socket itself (wait, or a datagram program).

        Such a socket stays blocking for good: pyinetd never accepts or reads on it
        (its peeks pass MSG_DONTWAIT), and O_NONBLOCK is shared with every child.
        """
        svc = self.service
        return svc.program is not None and (svc.wait or svc.socket_type is SocketType.DGRAM)


class Supervisor:
    def __init__(
        self,
        config: Config,
        options: Options | None = None,
        on_ready: Callable[[Supervisor], None] | None = None,
    ) -> None:
        self.options = options or Options()
        self.on_ready = on_ready
        self.on_change: Callable[[], None] | None = None  # e.g. the process title
        self.runtimes: list[Runtime] = []
        self.tcpmux: dict[str, Runtime] = {}
        self.orphans: dict[int, Child] = {}  # children of services a reload removed
        self.datagram_builtins = builtins.DatagramBuiltins()
        self.refusals = limits.RefusalLog()
        self._internal_dgram_ports: frozenset[int] = frozenset()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._warned_users: set[tuple[object, ...]] = set()
        self._change_pending = False
        self._refusal_timer: asyncio.TimerHandle | None = None
        self._session_ids = itertools.count(-1, -1)
        self._bound = False
        self._sessions = 0
        self._nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        for svc in config.services:
            rt = Runtime(svc, self.options.defaults)
            if self._prepare(rt):
                self._register(rt)

    # ----------------------------------------------------------------- set-up

    def _prepare(self, rt: Runtime) -> bool:
        """Resolve what a service's children need once, at load time. False: drop it."""
        svc = rt.service
        if svc.rpc is not None:
            log.error("%s: RPC services are not served yet: no rpcbind registration", svc.label)
            return False
        if svc.program is None:
            return True
        if os.geteuid() != 0:
            rt.creds = spawn.current_credentials()
            wanted = svc.user if svc.group is None else f"{svc.user}:{svc.group}"
            other = svc.user not in (rt.creds.user, str(rt.creds.uid)) or svc.group is not None
            if other and svc.key not in self._warned_users:
                self._warned_users.add(svc.key)
                log.warning(
                    "%s: runs as %s, not as %s: pyinetd is not running as root",
                    svc.label,
                    rt.creds.user,
                    wanted,
                )
        else:
            try:
                rt.creds = spawn.resolve_credentials(svc.user, svc.group)
            except KeyError as exc:
                log.error("%s: no such user or group: %s, service ignored", svc.label, exc)
                return False
        keep = dict(os.environ) if self.options.keep_env else None
        rt.env = spawn.base_environment(rt.creds, keep)
        return True

    def _register(self, rt: Runtime) -> None:
        if rt.service.tcpmux is not None:
            self.tcpmux[rt.service.tcpmux.name.lower()] = rt
        else:
            self.runtimes.append(rt)

    def _bind(self, rt: Runtime) -> bool:
        if rt.service.listen is None:
            return True
        try:
            rt.sock = net.bind(rt.service, self.options.bind)
        except BindError as exc:
            log.error("%s", exc)
            return False
        rt.address = net.describe(rt.sock)
        if rt.service.listen.family is Family.UNIX:
            assert rt.service.listen.path is not None
            rt.unix_inode = net.inode_of(rt.service.listen.path)
        if rt.hands_over_socket:
            rt.sock.setblocking(True)
        log.info("%s: listening on %s (%s)", rt.label, rt.address, rt.service.origin)
        return True

    def _refresh_internal_ports(self) -> None:
        ports = set()
        for rt in self.runtimes:
            svc = rt.service
            if svc.builtin is not None and svc.socket_type is SocketType.DGRAM and rt.sock:
                name = rt.sock.getsockname()
                if isinstance(name, tuple):
                    ports.add(int(name[1]))
        self._internal_dgram_ports = frozenset(ports)

    def bind_all(self) -> int:
        """Bind every listener (before daemonizing, so errors reach the terminal).

        Returns how many failed; those are retried every retry interval once serving.
        """
        failed = sum(0 if self._bind(rt) else 1 for rt in self.runtimes if rt.sock is None)
        self._refresh_internal_ports()
        self._bound = True
        return failed

    def fds(self) -> list[int]:
        return [rt.sock.fileno() for rt in self.runtimes if rt.sock is not None]

    # ----------------------------------------------------------------- running

    async def serve(self) -> None:
        """Run until `stop()`; binds first unless `bind_all` already ran (what failed
        there is retried by timer, not logged twice)."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if not self._bound:
            self.bind_all()
        for rt in self.runtimes:
            self._update_watch(rt)
        listening = sum(1 for rt in self.runtimes if rt.sock is not None)
        log.info("ready: %d services listening", listening)
        if self.on_ready is not None:
            self.on_ready(self)
        await self._stopping.wait()
        self._shutdown()

    def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    def _update_watch(self, rt: Runtime) -> None:
        """Watch the listener exactly when a connection may be taken now: bound, not held
        by a timer, and the limiter agrees (not paused, below max-child; for wait
        services max-child is 1, so this also stops watching while the child runs)."""
        if self._loop is None:
            return
        if rt.sock is None:
            if rt.service.listen is not None and rt.retry is None and not rt.removed:
                rt.retry = self._loop.call_later(
                    # One interval for bind retries and looping pauses (FreeBSD's RETRYTIME).
                    self.options.defaults.retry_interval,
                    self._retry_bind,
                    rt,
                )
            return
        # A socket whose blocking mode still waits on `_sync_blocking` is not watched:
        # accepting or reading on it in the wrong mode would block the whole loop.
        want = (
            not rt.removed
            and rt.held == 0
            and rt.sock.getblocking() == rt.hands_over_socket
            and rt.limiter.may_accept()
        )
        if want and not rt.watching:
            self._loop.add_reader(rt.sock.fileno(), self._on_readable, rt)
        elif rt.watching and not want:
            self._loop.remove_reader(rt.sock.fileno())
        rt.watching = want

    def _hold(self, rt: Runtime, seconds: float, then: Callable[[], None] | None = None) -> None:
        """Stop watching for `seconds`, then run `then` and watch again if allowed."""
        assert self._loop is not None
        rt.held += 1
        self._update_watch(rt)

        def release() -> None:
            rt.held -= 1
            if then is not None:
                then()
            self._update_watch(rt)

        self._loop.call_later(seconds, release)

    def _sync_blocking(self, rt: Runtime) -> None:
        """After a reload turned wait into nowait (or back), give the socket the mode the
        new entry needs, but only once no child holds it: the mode is shared with them."""
        if rt.sock is None or rt.sock.getblocking() == rt.hands_over_socket:
            return
        if not any(c.holds_listener for c in rt.children.values()):
            rt.sock.setblocking(rt.hands_over_socket)

    def _pause(self, rt: Runtime, pause: limits.Pause) -> None:
        """The looping guard tripped: stop serving for the pause, socket still bound."""
        log.error("%s: %s", rt.label, pause)
        self._hold(rt, pause.seconds, rt.limiter.resume)

    def _retry_bind(self, rt: Runtime) -> None:
        rt.retry = None
        if rt.removed:
            return
        try:
            if self._bind(rt):
                self._refresh_internal_ports()
        except Exception:  # noqa: BLE001 - a failed retry must be retried, not lost
            log.exception("%s: unexpected error while binding", rt.label)
        self._update_watch(rt)

    def _on_readable(self, rt: Runtime) -> None:
        svc = rt.service
        try:
            if svc.socket_type is SocketType.DGRAM:
                if svc.builtin is not None:
                    self._serve_datagrams(rt)
                else:
                    self._dispatch_dgram_program(rt)
            elif svc.wait and svc.program is not None:
                self._invoke(rt, rt.sock.fileno() if rt.sock else -1, None, None)
            else:
                self._accept(rt)
        except Exception:  # noqa: BLE001 - nothing a connection does may stop the daemon
            log.exception("%s: unexpected error while dispatching", rt.label)

    def _accept(self, rt: Runtime) -> None:
        assert rt.sock is not None
        for _ in range(_BATCH):
            if not rt.watching:
                return  # max-child reached or paused by the previous connection
            try:
                conn, addr = rt.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if net.is_fd_exhaustion(exc):
                    log.error(
                        "%s: accept: %s; pausing %.0f s",
                        rt.label,
                        exc.strerror,
                        _FD_EXHAUSTION_DELAY,
                    )
                    self._hold(rt, _FD_EXHAUSTION_DELAY)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue
                log.error("%s: accept: %s", rt.label, exc.strerror or exc)
                return
            try:
                self._connection(rt, conn, addr)
            except BaseException:
                conn.close()
                raise

    def _refuse(self, rt: Runtime, refusal: limits.Refusal) -> None:
        for line in self.refusals.refused(rt.label, refusal):
            log.warning("%s", line)
        if self._refusal_timer is None and self._loop is not None:
            due = self.refusals.next_due()
            if due is not None:
                self._refusal_timer = self._loop.call_at(due, self._expire_refusals)

    def _expire_refusals(self) -> None:
        self._refusal_timer = None
        for line in self.refusals.expire():
            log.warning("%s", line)
        due = self.refusals.next_due()
        if due is not None and self._loop is not None:
            self._refusal_timer = self._loop.call_at(due, self._expire_refusals)

    def _connection(self, rt: Runtime, conn: socket.socket, addr: object) -> None:
        """One accepted connection: refused, handed to a program (and closed here), or
        handed over to an in-process session, which closes it when done."""
        svc = rt.service
        ip = _peer_ip(addr)
        refusal = rt.limiter.admit(ip)
        if refusal is not None:
            conn.close()
            self._refuse(rt, refusal)
            return
        if svc.builtin is None:
            try:
                self._invoke(
                    rt, conn.fileno(), addr, _socket_env(rt.env, conn, "TCP", addr, peer_creds=True)
                )
            finally:
                conn.close()
            return
        peer = _peer_text(conn.family, addr)
        if self.options.log_connections:
            log.info("%s: connection from %s", rt.label, peer)
        conn.setblocking(False)
        if builtins.answer_now(svc.builtin.name, conn):
            return
        cap = limits.session_limit(self._nofile, len(self.runtimes))
        if self._sessions >= cap:
            conn.close()
            self._refuse(
                rt, limits.Refusal(ip or "unix", limits.Rule.SESSIONS, self._sessions + 1, cap)
            )
            return
        if svc.builtin.name == "tcpmux":
            self._session(rt, ip, self._tcpmux(rt, conn, peer))
        else:
            self._session(rt, ip, builtins.serve_stream(svc.builtin.name, conn))

    def _session(self, rt: Runtime, ip: str | None, coro: Coroutine[object, object, None]) -> None:
        """Run an in-process session; it counts as a child for max-child and per-IP limits,
        as FreeBSD counts its forked builtins."""
        assert self._loop is not None
        key = next(self._session_ids)
        rt.limiter.started(key, ip)
        rt.children[key] = Child(key, None, rt, ip)
        task = self._loop.create_task(coro)
        rt.tasks.add(task)
        self._sessions += 1

        def done(t: asyncio.Task[None]) -> None:
            self._sessions -= 1
            rt.tasks.discard(t)
            rt.children.pop(key, None)
            rt.limiter.exited(key)
            self._update_watch(rt)

        task.add_done_callback(done)
        self._update_watch(rt)

    async def _tcpmux(self, rt: Runtime, conn: socket.socket, peer: str) -> None:
        try:
            try:
                name = await builtins.read_tcpmux_name(conn)
            except (TimeoutError, ValueError, EOFError, OSError) as exc:
                why = str(exc) or type(exc).__name__
                log.info("%s: %s: no service name read: %s", rt.label, peer, why)
                return
            loop = asyncio.get_running_loop()
            if name.lower() == "help":
                names = sorted(
                    t.service.tcpmux.name
                    for t in self.tcpmux.values()
                    if t.service.tcpmux is not None
                )
                await loop.sock_sendall(conn, builtins.tcpmux_help(names))
                return
            target = self.tcpmux.get(name.lower())
            if target is None or target.service.tcpmux is None:
                await loop.sock_sendall(conn, builtins.TCPMUX_UNAVAILABLE)
                log.info("%s: %s asked for unknown service %r", rt.label, peer, name)
                return
            addr = conn.getpeername()
            refusal = target.limiter.admit(_peer_ip(addr))
            if refusal is not None or not target.limiter.may_accept():
                await loop.sock_sendall(conn, builtins.TCPMUX_UNAVAILABLE)
                if refusal is not None:
                    self._refuse(target, refusal)
                return
            if target.service.tcpmux.plus:
                await loop.sock_sendall(conn, builtins.TCPMUX_GO)
            conn.setblocking(True)
            self._invoke(
                target,
                conn.fileno(),
                addr,
                _socket_env(target.env, conn, "TCP", addr, peer_creds=True),
            )
        except OSError as exc:
            log.info("%s: %s: %s", rt.label, peer, exc.strerror or exc)
        finally:
            conn.close()

    def _serve_datagrams(self, rt: Runtime) -> None:
        assert rt.sock is not None and rt.service.builtin is not None
        name = rt.service.builtin.name
        for _ in range(_BATCH):
            try:
                data, addr = rt.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # ICMP errors from earlier replies surface here (ECONNREFUSED); not ours.
                log.debug("%s: recvfrom: %s", rt.label, exc.strerror or exc)
                continue
            if isinstance(addr, tuple):
                host, port = str(addr[0]), int(addr[1])
                if builtins.is_loop_source(host, port, self._internal_dgram_ports):
                    log.warning("%s: loop request REFUSED from %s port %d", rt.label, host, port)
                    continue
            if self.options.log_connections:
                log.info("%s: datagram from %s", rt.label, _peer_text(rt.sock.family, addr))
            reply = self.datagram_builtins.reply(name, data)
            if reply is not None and addr:
                with contextlib.suppress(OSError):
                    rt.sock.sendto(reply, addr)

    def _dispatch_dgram_program(self, rt: Runtime) -> None:
        """Start a child on the datagram socket. For nowait this is FreeBSD's behaviour: the
        socket stays watched, so until a child reads, more children start; the looping
        guard bounds that (docs/operations.md)."""
        assert rt.sock is not None
        try:
            data, addr = rt.sock.recvfrom(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # A queued ICMP error, not a datagram: reading it clears it.
            log.debug("%s: recvfrom: %s", rt.label, exc.strerror or exc)
            with contextlib.suppress(OSError):
                rt.sock.recv(1, socket.MSG_DONTWAIT)
            return
        env = _socket_env(rt.env, rt.sock, "UDP", addr)
        self._invoke(rt, rt.sock.fileno(), addr, env, datagram=(addr, data))

    def _invoke(
        self,
        rt: Runtime,
        fd: int,
        addr: object,
        env: dict[str, str] | None,
        datagram: tuple[object, bytes] | None = None,
    ) -> None:
        """Count the invocation against the looping guard, then start the program."""
        assert rt.sock is not None or rt.service.tcpmux is not None
        pause = rt.limiter.invoke()
        if pause is not None:
            self._pause(rt, pause)
            return
        if env is None:
            assert rt.sock is not None
            env = _socket_env(rt.env, rt.sock, "TCP")
        family = rt.sock.family if rt.sock is not None else socket.AF_INET
        started = self._spawn(rt, fd, env, _peer_text(family, addr), _peer_ip(addr), datagram)
        if not started and datagram is not None and rt.sock is not None:
            # As FreeBSD's child does when exec fails: drop the datagram so the socket
            # does not stay readable and loop.
            with contextlib.suppress(OSError):
                rt.sock.recv(65536, socket.MSG_DONTWAIT)
        elif not started and rt.service.wait:
            # The pending connection stays queued for the program to accept; trying
            # again at once would fail again at once.
            self._hold(rt, _RETRY_DELAY)
        self._update_watch(rt)

    def _spawn(
        self,
        rt: Runtime,
        fd: int,
        env: dict[str, str],
        peer: str,
        ip: str | None,
        datagram: tuple[object, bytes] | None,
    ) -> bool:
        svc = rt.service
        assert svc.program is not None and rt.creds is not None and self._loop is not None
        try:
            proc = spawn.spawn(svc.program.path, svc.program.argv, fd, env, rt.creds)
        except SpawnError as exc:
            log.error("%s: %s", rt.label, exc)
            return False
        child = Child(proc.pid, proc, rt, ip, datagram)
        child.holds_listener = rt.sock is not None and fd == rt.sock.fileno()
        rt.children[child.pid] = child
        rt.limiter.started(child.pid, ip)
        child.pidfd = spawn.open_pidfd(child.pid)
        if child.pidfd is not None:
            self._loop.add_reader(child.pidfd, self._collect, child)
        else:
            self._loop.call_later(0.1, self._poll_child, child)
        if self.options.log_connections:
            log.info("%s: connection from %s, pid %d", rt.label, peer, child.pid)
        self._changed()
        return True

    def _changed(self) -> None:
        """Tell `on_change` about new children counts, at most once a second."""
        if self.on_change is None or self._change_pending or self._loop is None:
            return
        self._change_pending = True

        def fire() -> None:
            self._change_pending = False
            if self.on_change is not None:
                self.on_change()

        self._loop.call_later(1.0, fire)

    def _poll_child(self, child: Child) -> None:
        if not self._collect(child) and self._loop is not None:
            self._loop.call_later(0.1, self._poll_child, child)

    def _collect(self, child: Child) -> bool:
        status = spawn.reap(child.pid)
        if status is None:
            return False
        if child.pidfd is not None:
            if self._loop is not None:
                self._loop.remove_reader(child.pidfd)
            os.close(child.pidfd)
            child.pidfd = None
        if child.proc is not None:
            child.proc.returncode = os.waitstatus_to_exitcode(status) if status else 0
        rt = child.runtime
        rt.children.pop(child.pid, None)
        self.orphans.pop(child.pid, None)
        rt.limiter.exited(child.pid)
        self._sync_blocking(rt)
        text, bad = spawn.describe_exit(status)
        log.log(logging.WARNING if bad else logging.INFO, "%s[%d]: %s", rt.label, child.pid, text)
        if not rt.removed and self._datagram_left_unread(rt, child):
            rt.unread_streak += 1
            if rt.unread_streak >= _UNREAD_LOOPING:
                rt.unread_streak = 0
                self._pause(rt, rt.limiter.trip())
            else:
                self._hold(rt, _RETRY_DELAY)
        elif child.datagram is not None:
            rt.unread_streak = 0
        self._update_watch(rt)
        self._changed()
        return True

    def _datagram_left_unread(self, rt: Runtime, child: Child) -> bool:
        if child.datagram is None or rt.sock is None or not rt.service.wait:
            return False
        try:
            data, addr = rt.sock.recvfrom(65536, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except OSError:
            return False
        if (addr, data) != child.datagram:
            return False
        log.warning(
            "%s[%d]: exited without reading its datagram; watching again in %.0f s",
            rt.label,
            child.pid,
            _RETRY_DELAY,
        )
        return True

    # ----------------------------------------------------------------- reload and stop

    def reload(self, config: Config) -> None:
        """Apply a newly loaded config; unreadable files keep the old services entirely."""
        for e in config.errors:
            log.error("%s", e)
        if any(e.origin.line == 0 for e in config.errors):
            log.error("reload: configuration unreadable; keeping the running services")
            return
        current = {rt.service.key: rt for rt in self.runtimes}
        current.update({rt.service.key: rt for rt in self.tcpmux.values()})
        p = reload.plan(
            [rt.service for rt in current.values()],
            config.services,
            remove_missing=not config.errors,
        )
        if config.errors:
            log.error(
                "reload: %d errors; only services replaced on their endpoint are removed",
                len(config.errors),
            )
        # Removals first, so their ports and paths are free for what replaces them.
        for svc in p.remove:
            self._remove(current[svc.key])
        for old, new in p.keep:
            rt = current[old.key]
            rt.service = new
            rt.limiter.update(limits.limits_for(new, self.options.defaults))
            if not self._prepare(rt):
                self._remove(rt)
                continue
            if rt.sock is None and new.listen is not None:
                # SIGHUP retries a failed bind now, as FreeBSD's config() does.
                if rt.retry is not None:
                    rt.retry.cancel()
                    rt.retry = None
                self._bind(rt)
            self._sync_blocking(rt)
            self._update_watch(rt)
        for svc in p.add:
            rt = Runtime(svc, self.options.defaults)
            if not self._prepare(rt):
                continue
            self._register(rt)
            if svc.listen is not None:
                self._bind(rt)
                self._update_watch(rt)
        self._refresh_internal_ports()
        log.info("reload: %d kept, %d added, %d removed", len(p.keep), len(p.add), len(p.remove))

    def _remove(self, rt: Runtime) -> None:
        rt.removed = True
        if rt.retry is not None:
            rt.retry.cancel()
            rt.retry = None
        self._update_watch(rt)
        if rt in self.runtimes:
            self.runtimes.remove(rt)
        if rt.service.tcpmux is not None:
            self.tcpmux.pop(rt.service.tcpmux.name.lower(), None)
        running = {pid: c for pid, c in rt.children.items() if pid > 0}
        self.orphans.update(running)
        self._close(rt)
        log.info(
            "%s: removed (%d children and %d sessions left to finish)",
            rt.label,
            len(running),
            len(rt.tasks),
        )

    def _close(self, rt: Runtime) -> None:
        """Close the listener (and its UNIX socket file, if it is still ours). In-process
        sessions go on, as children do; only shutdown ends them."""
        if rt.sock is not None:
            rt.sock.close()
            rt.sock = None
            if rt.service.listen is not None and rt.service.listen.family is Family.UNIX:
                assert rt.service.listen.path is not None
                net.unlink_unix(rt.service.listen.path, rt.unix_inode)

    def _shutdown(self) -> None:
        """Close listeners, end builtin tasks; children are left to finish, as inetd does."""
        for rt in self.runtimes:
            rt.removed = True
            if rt.retry is not None:
                rt.retry.cancel()
            self._update_watch(rt)
            self._close(rt)
            for task in list(rt.tasks):
                task.cancel()
        for rt in list(self.runtimes) + list(self.tcpmux.values()):
            for child in rt.children.values():
                if child.pidfd is not None:
                    if self._loop is not None:
                        self._loop.remove_reader(child.pidfd)
                    os.close(child.pidfd)
                    child.pidfd = None
        log.info("stopped")

    def children(self) -> int:
        everyone = list(self.runtimes) + list(self.tcpmux.values())
        running = sum(1 for rt in everyone for pid in rt.children if pid > 0)
        return running + len(self.orphans)


def install_signal_handlers(
    loop: asyncio.AbstractEventLoop, sup: Supervisor, reload_cb: Callable[[], None]
) -> None:
    """asyncio's handlers only note the signal; the work runs on the loop (the self-pipe
    design FreeBSD adopted after signal handlers that did real work proved unsafe)."""
    loop.add_signal_handler(signal.SIGHUP, reload_cb)
    loop.add_signal_handler(signal.SIGTERM, sup.stop)
    loop.add_signal_handler(signal.SIGINT, sup.stop)


# --------------------------------------------------------------------- connection details


def _peer_text(family: int, addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = _unmap(str(addr[0]))
        return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
    if family == socket.AF_UNIX:
        return "unix" if not addr else f"unix:{addr!r}"
    return "unknown"


def _peer_ip(addr: object) -> str | None:
    """The numeric peer address the per-IP limits count; None for UNIX peers."""
    if isinstance(addr, tuple) and addr:
        return _unmap(str(addr[0]))
    return None


def _unmap(host: str) -> str:
    """A dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d; log and export them plainly."""
    return host[7:] if host.startswith("::ffff:") and "." in host else host


def _inet_vars(prefix: str, env: dict[str, str], local: object, remote: object) -> None:
    if isinstance(local, tuple):
        env[f"{prefix}LOCALIP"] = _unmap(str(local[0]))
        env[f"{prefix}LOCALPORT"] = str(local[1])
    if isinstance(remote, tuple):
        env[f"{prefix}REMOTEIP"] = _unmap(str(remote[0]))
        env[f"{prefix}REMOTEPORT"] = str(remote[1])


def _proto(sock: socket.socket, base: str, remote: object) -> str:
    mapped = isinstance(remote, tuple) and str(remote[0]).startswith("::ffff:")
    return base + "6" if sock.family == socket.AF_INET6 and not mapped else base


def _socket_env(
    base: dict[str, str],
    sock: socket.socket,
    prefix: str,
    addr: object = None,
    peer_creds: bool = False,
) -> dict[str, str]:
    """UCSPI-style variables (tcp-environ): PROTO and PREFIX{LOCAL,REMOTE}{IP,PORT} for
    `prefix` TCP or UDP (no remote for a wait-mode listener); for UNIX sockets the path,
    and with `peer_creds` the peer's pid and ids from SO_PEERCRED."""
    env = dict(base)
    if sock.family == socket.AF_UNIX:
        env["PROTO"] = "UNIX"
        env["UNIXLOCALPATH"] = str(sock.getsockname())
        if peer_creds:
            _unix_peer_vars(env, sock)
        return env
    env["PROTO"] = _proto(sock, prefix, addr)
    _inet_vars(prefix, env, sock.getsockname(), addr)
    return env


def _unix_peer_vars(env: dict[str, str], conn: socket.socket) -> None:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, gid = struct.unpack("3i", creds)
    except OSError:
        return
    env["UNIXREMOTEPID"] = str(pid)
    env["UNIXREMOTEEUID"] = str(uid)
    env["UNIXREMOTEEGID"] = str(gid)
