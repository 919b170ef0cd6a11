"""Per-service admission: max-child, per-source limits, the looping guard, refusal summaries.

Pure and synchronous: counters and decisions only, with the clock injected. It must not
import asyncio, sockets or subprocess, must not log and must not touch a process; the core
owns the sockets and the children and asks a `Limiter` before every accept and every fork.
Which inetd reading each rule follows is written down in docs/limits.md.
"""

from __future__ import annotations

import enum
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pyinetd.model import Limits, Service

Clock = Callable[[], float]

# CNT_INTVL of every C inetd: both the looping guard and the per-IP rate count per minute.
WINDOW = 60.0
# FreeBSD's per-IP rate table keeps six ten-second slots per source (CHTSIZE x CHTGRAN), so
# a connection stops counting when the sixth slot boundary after it passes.
SLOT_SECONDS = 10
SLOTS = 6

_NO_TICK = -(1 << 62)


def _check_count(name: str, value: object) -> None:
    # bool is an int subclass; a True limit is a caller's mistake, not a limit of 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0 (0 = unlimited), not {value!r}")


def _check_interval(value: float) -> None:
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"retry_interval must be a number of seconds > 0, not {value!r}")


def _seconds(value: float) -> str:
    """600.0 -> "600", 0.25 -> "0.25": log texts show seconds without float noise."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Defaults:
    """The global defaults, FreeBSD's `-c`, `-C`, `-s`, `-R` and the `-r` retry interval.

    0 means unlimited. A service's own written limits (`model.Limits`) win over these.
    """

    max_child: int = 0
    max_conn_per_ip_per_minute: int = 0
    max_child_per_ip: int = 0
    max_per_minute: int = 256
    retry_interval: float = 600.0

    def __post_init__(self) -> None:
        _check_count("max_child", self.max_child)
        _check_count("max_conn_per_ip_per_minute", self.max_conn_per_ip_per_minute)
        _check_count("max_child_per_ip", self.max_child_per_ip)
        _check_count("max_per_minute", self.max_per_minute)
        _check_interval(self.retry_interval)


@dataclass(frozen=True)
class EffectiveLimits(Defaults):
    """The limits one service runs under once defaults are applied; 0 means unlimited.

    The same five values as `Defaults`, validated the same way, but resolved for one
    service (`effective_limits`) rather than global.
    """


def effective_limits(limits: Limits, *, wait: bool, defaults: Defaults) -> EffectiveLimits:
    """Apply the defaults to a service's written limits.

    max-child follows FreeBSD: the written `wait/N` or `nowait/N` value (0 = unlimited),
    else 1 for `wait` (the listening socket itself goes to the child, so only one may
    hold it), else `-c`.
    """
    max_child = limits.max_child
    if max_child is None:
        max_child = 1 if wait else defaults.max_child

    def pick(written: int | None, default: int) -> int:
        return default if written is None else written

    return EffectiveLimits(
        max_child=max_child,
        max_conn_per_ip_per_minute=pick(
            limits.max_conn_per_ip_per_minute, defaults.max_conn_per_ip_per_minute
        ),
        max_child_per_ip=pick(limits.max_child_per_ip, defaults.max_child_per_ip),
        max_per_minute=pick(limits.max_per_minute, defaults.max_per_minute),
        retry_interval=defaults.retry_interval,
    )


def limits_for(service: Service, defaults: Defaults) -> EffectiveLimits:
    """`effective_limits` for a model `Service`."""
    return effective_limits(service.limits, wait=service.wait, defaults=defaults)


class Rule(enum.Enum):
    """A rule a connection can break; the value is how log lines name it."""

    CONNECTIONS_PER_MINUTE = "connections/min"
    CHILDREN_PER_IP = "children"
    # Daemon-wide: in-process sessions each hold a descriptor of pyinetd's own, so their
    # number is capped below the descriptor limit (see `session_limit`).
    SESSIONS = "in-process sessions"


# Descriptors kept free of in-process sessions: listeners are counted separately; this
# covers accepting, a pidfd per child, Popen's pipes, logging and reloads.
SESSION_RESERVE = 128


def session_limit(nofile: int, listeners: int) -> int:
    """How many in-process sessions (echo, chargen, ...) may be open at once, so that idle
    clients can never take the descriptors that accepting and starting programs need."""
    return max(16, nofile - listeners - SESSION_RESERVE)


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused connection: `str()` is `127.0.0.2 refused: 31 connections/min > limit 30`.

    `count` is what the source would have had with this connection admitted.
    """

    peer: str
    rule: Rule
    count: int
    limit: int

    @property
    def reason(self) -> str:
        return f"{self.rule.value} > limit {self.limit}"

    def __str__(self) -> str:
        return f"{self.peer} refused: {self.count} {self.reason}"


@dataclass(frozen=True, slots=True)
class Pause:
    """The looping guard tripped: serve nothing until `until` (the limiter's clock).

    `str()` is the text after the label: `server failing (looping), service paused for 600 s`.
    """

    seconds: float
    until: float

    def __str__(self) -> str:
        return f"server failing (looping), service paused for {_seconds(self.seconds)} s"


class _Peer:
    """One source address: its live children and its six ten-second connection slots."""

    __slots__ = ("live", "ticks", "counts", "last_tick")

    def __init__(self) -> None:
        self.live = 0
        self.ticks = [_NO_TICK] * SLOTS
        self.counts = [0] * SLOTS
        self.last_tick = _NO_TICK

    def count(self, tick: int) -> int:
        """Count one connection in `tick` and return the connections of the last minute."""
        i = tick % SLOTS
        if self.ticks[i] != tick:
            self.ticks[i] = tick
            self.counts[i] = 0
        self.counts[i] += 1
        self.last_tick = tick
        oldest = tick - SLOTS + 1
        total = 0
        for t, c in zip(self.ticks, self.counts, strict=True):
            if oldest <= t <= tick:
                total += c
        return total

    def recent(self, tick: int) -> bool:
        return self.last_tick > tick - SLOTS

    def forget_counts(self) -> None:
        self.ticks = [_NO_TICK] * SLOTS
        self.counts = [0] * SLOTS
        self.last_tick = _NO_TICK


class Limiter:
    """The admission state of one service: children, per-source counts, the looping guard.

    The core asks, in this order: `may_accept()` before watching or accepting; `admit(peer)`
    after an accept; `invoke()` just before starting a child (or a counted builtin); then
    `started(pid, peer)`; and `exited(pid)` when it reaps. `admit` and `started` must run
    without yielding to the event loop in between, or two connections from one source could
    both pass the children-per-IP check.
    """

    def __init__(
        self,
        limits: EffectiveLimits,
        *,
        clock: Clock = time.monotonic,
        max_peers: int = 65536,
    ) -> None:
        if max_peers < 1:
            raise ValueError(f"max_peers must be >= 1, not {max_peers!r}")
        self._limits = limits
        self._clock = clock
        self._max_peers = max_peers
        self._children: dict[int, str | None] = {}
        # Ordered by the last counted connection, so the stale entries are at the front.
        self._peers: OrderedDict[str, _Peer] = OrderedDict()
        self._swept_tick = _NO_TICK
        self._window_start: float | None = None
        self._invocations = 0
        self._pause: Pause | None = None

    @classmethod
    def for_service(
        cls, service: Service, defaults: Defaults, *, clock: Clock = time.monotonic
    ) -> Limiter:
        return cls(limits_for(service, defaults), clock=clock)

    @property
    def limits(self) -> EffectiveLimits:
        return self._limits

    @property
    def children(self) -> int:
        """Live children (and counted in-process tasks) of this service."""
        return len(self._children)

    @property
    def pause(self) -> Pause | None:
        """The looping pause in force, or None once it has ended."""
        if self._pause is not None and self._clock() >= self._pause.until:
            self._pause = None
        return self._pause

    @property
    def tracked_peers(self) -> int:
        """How many source addresses the limiter holds state for (it stays bounded)."""
        return len(self._peers)

    def children_of(self, peer: str) -> int:
        entry = self._peers.get(peer)
        return 0 if entry is None else entry.live

    def may_accept(self) -> bool:
        """Whether the core may accept (or, for wait services, watch the socket) now.

        False while the looping guard's pause lasts and while children == max-child; at
        max-child FreeBSD stops selecting on the socket so new connections wait in the
        kernel's listen backlog rather than being refused.
        """
        if self._pause is not None and self.pause is not None:
            return False
        limit = self._limits.max_child
        return limit == 0 or len(self._children) < limit

    def admit(self, peer: str | None) -> Refusal | None:
        """Apply the per-source rules to an accepted connection from `peer`.

        FreeBSD's order: the connection is counted in its source's minute first (refused
        attempts keep counting, so a source that keeps hammering stays refused), then the
        live children of that source are checked. `peer` None (UNIX sockets) is admitted.
        """
        if peer is None:
            return None
        per_minute = self._limits.max_conn_per_ip_per_minute
        per_ip = self._limits.max_child_per_ip
        if not per_minute and not per_ip:
            return None
        if per_minute:
            now = self._clock()
            tick = math.floor(now / SLOT_SECONDS)
            if tick != self._swept_tick:
                self._sweep(tick)
                self._swept_tick = tick
            entry = self._peers.get(peer)
            if entry is None:
                if len(self._peers) >= self._max_peers:
                    self._evict(tick)
                entry = self._peers[peer] = _Peer()
            else:
                self._peers.move_to_end(peer)
            count = entry.count(tick)
            if count > per_minute:
                return Refusal(peer, Rule.CONNECTIONS_PER_MINUTE, count, per_minute)
        else:
            entry = self._peers.get(peer)
        if per_ip and entry is not None and entry.live >= per_ip:
            return Refusal(peer, Rule.CHILDREN_PER_IP, entry.live + 1, per_ip)
        return None

    def invoke(self) -> Pause | None:
        """Count one invocation for the looping guard; a Pause means: do not start it.

        A fixed 60 s window anchored at its first invocation, as the C inetds. A limit of
        N admits N invocations in a window and trips on the N+1-th (GNU/NetBSD; FreeBSD,
        OpenBSD and netkit trip on the N-th). On tripping the counter resets and the
        service pauses for the retry interval. While paused this returns that same Pause
        and counts nothing.
        """
        pause = self.pause
        if pause is not None:
            return pause
        limit = self._limits.max_per_minute
        if not limit:
            return None
        now = self._clock()
        if self._window_start is None or now - self._window_start >= WINDOW:
            self._window_start = now
            self._invocations = 0
        self._invocations += 1
        if self._invocations <= limit:
            return None
        return self.trip()

    def trip(self) -> Pause:
        """Pause the service as looping now, whatever the count: the core calls this when
        it sees the loop directly (a datagram server that keeps exiting without reading).
        Works even with the rate limit off."""
        if self._pause is not None:
            return self._pause
        self._window_start = None
        self._invocations = 0
        seconds = self._limits.retry_interval
        self._pause = Pause(seconds=seconds, until=self._clock() + seconds)
        return self._pause

    def resume(self) -> None:
        """End the looping pause now (the core's timer for `Pause.seconds` has fired).

        The core's timer may fire a hair before the limiter's clock reaches `until`;
        resuming explicitly keeps the two from disagreeing.
        """
        self._pause = None

    def started(self, pid: int, peer: str | None) -> None:
        """Record a live child; any unique int serves as `pid` for an in-process task."""
        if pid in self._children:
            self.exited(pid)
        self._children[pid] = peer
        if peer is not None:
            entry = self._peers.get(peer)
            if entry is None:
                # Appended with no counts: entries holding live children are never dropped.
                entry = self._peers[peer] = _Peer()
            entry.live += 1

    def exited(self, pid: int) -> bool:
        """Release a child's max-child and per-source share; False for an unknown pid."""
        if pid not in self._children:
            return False
        peer = self._children.pop(pid)
        if peer is not None:
            entry = self._peers.get(peer)
            if entry is not None:
                entry.live = max(0, entry.live - 1)
                if entry.live == 0 and not self._counting(entry):
                    del self._peers[peer]
        return True

    def update(self, limits: EffectiveLimits) -> None:
        """Take new limits on reload, keeping children, per-source windows and any pause.

        `may_accept` is computed from the live children, so lowering max-child below the
        children still running simply holds accepting off until enough have exited.
        """
        old = self._limits
        self._limits = limits
        if old.max_conn_per_ip_per_minute and not limits.max_conn_per_ip_per_minute:
            # Counts are no longer kept; stale ones must not resurface if a later reload
            # sets a limit again, and idle entries would otherwise never be swept.
            for peer in [p for p, e in self._peers.items() if e.live == 0]:
                del self._peers[peer]
            for entry in self._peers.values():
                entry.forget_counts()
        if not limits.max_per_minute:
            self._window_start = None
            self._invocations = 0

    def _counting(self, entry: _Peer) -> bool:
        if not self._limits.max_conn_per_ip_per_minute or entry.last_tick == _NO_TICK:
            return False
        return entry.recent(math.floor(self._clock() / SLOT_SECONDS))

    def _sweep(self, tick: int) -> None:
        """Drop sources with no live child and no connection in the last minute."""
        stale = []
        for peer, entry in self._peers.items():
            if entry.last_tick != _NO_TICK and entry.recent(tick):
                # Entries after this one were counted later still: nothing more to drop.
                break
            if entry.live == 0:
                stale.append(peer)
        for peer in stale:
            del self._peers[peer]

    def _evict(self, tick: int) -> None:
        """Make room for one source: sweep, else forget the least recently counted idle one.

        Forgetting a source forgets its counts, as FreeBSD's fixed-size table does; a
        source with live children is never forgotten, so children-per-IP stays exact.
        """
        self._sweep(tick)
        if len(self._peers) < self._max_peers:
            return
        for peer, entry in self._peers.items():
            if entry.live == 0:
                del self._peers[peer]
                return


class _Summary:
    __slots__ = ("start", "suppressed", "reason")

    def __init__(self, start: float, reason: str) -> None:
        self.start = start
        self.suppressed = 0
        self.reason = reason


class RefusalLog:
    """Turns refusals into a bounded number of log lines.

    The first refusal of a (service, source, rule) is logged in full; the following ones
    are counted and summarised once per `interval` while they go on
    (`echo/tcp: 127.0.0.2 refused 57 more times in 60 s: connections/min > limit 30`). A
    source idle for a whole interval is forgotten. Past `max_sources` entries, refusals from
    new sources are counted per service and summarised without their addresses. The core
    logs every line returned and calls `expire()` at `next_due()` so summaries of a flood
    that has stopped still appear.
    """

    def __init__(
        self,
        *,
        interval: float = WINDOW,
        max_sources: int = 4096,
        clock: Clock = time.monotonic,
    ) -> None:
        if not math.isfinite(interval) or interval <= 0:
            raise ValueError(f"interval must be > 0, not {interval!r}")
        if max_sources < 1:
            raise ValueError(f"max_sources must be >= 1, not {max_sources!r}")
        self._interval = interval
        self._max = max_sources
        self._clock = clock
        # Ordered by window start, so the due entries are at the front.
        self._entries: OrderedDict[tuple[str, str, Rule], _Summary] = OrderedDict()
        self._overflow: dict[str, _Summary] = {}

    def __len__(self) -> int:
        """Entries held, the per-service overflow counters included."""
        return len(self._entries) + len(self._overflow)

    def refused(self, label: str, refusal: Refusal) -> list[str]:
        """Record one refusal; return the lines to log now (often none)."""
        now = self._clock()
        lines = self._expire(now)
        key = (label, refusal.peer, refusal.rule)
        entry = self._entries.get(key)
        if entry is not None:
            entry.suppressed += 1
            entry.reason = refusal.reason
            return lines
        if len(self._entries) >= self._max:
            over = self._overflow.get(label)
            if over is not None:
                over.suppressed += 1
                return lines
            self._overflow[label] = _Summary(now, "")
        else:
            self._entries[key] = _Summary(now, refusal.reason)
        lines.append(f"{label}: {refusal}")
        return lines

    def expire(self) -> list[str]:
        """Summaries whose interval has ended; forgets sources idle for a whole interval."""
        return self._expire(self._clock())

    def next_due(self) -> float | None:
        """When (on the clock given) `expire` next has something to do; None if empty."""
        starts = [s.start for s in self._overflow.values()]
        if self._entries:
            starts.append(next(iter(self._entries.values())).start)
        return min(starts) + self._interval if starts else None

    def _expire(self, now: float) -> list[str]:
        lines: list[str] = []
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if now - entry.start < self._interval:
                break
            del self._entries[key]
            if entry.suppressed:
                label, peer, _ = key
                lines.append(
                    f"{label}: {peer} refused {entry.suppressed} more times in "
                    f"{now - entry.start:.0f} s: {entry.reason}"
                )
                # The source is still being refused: keep summarising rather than log its
                # next refusal in full, so a steady flood costs one line per interval.
                self._entries[key] = _Summary(now, entry.reason)
        for label, over in list(self._overflow.items()):
            if now - over.start < self._interval:
                continue
            del self._overflow[label]
            if over.suppressed:
                lines.append(
                    f"{label}: refused {over.suppressed} more times in {now - over.start:.0f} s"
                    f" from sources beyond the {self._max} listed"
                )
                self._overflow[label] = _Summary(now, "")
        return lines
