"""Unit tests for pyinetd.limits: every rule and boundary, with an injected clock."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import pyinetd.limits as limits_module
from pyinetd.limits import (
    Defaults,
    EffectiveLimits,
    Limiter,
    Pause,
    Refusal,
    RefusalLog,
    Rule,
    effective_limits,
    limits_for,
)
from pyinetd.model import (
    Family,
    Limits,
    ListenAddress,
    Origin,
    Program,
    Protocol,
    Service,
    SocketType,
)

A = "127.0.0.2"
B = "127.0.0.3"


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(clock: FakeClock, **kw: float) -> Limiter:
    values: dict[str, float] = {
        "max_child": 0,
        "max_conn_per_ip_per_minute": 0,
        "max_child_per_ip": 0,
        "max_per_minute": 0,
        "retry_interval": 600.0,
    }
    values.update(kw)
    return Limiter(EffectiveLimits(**values), clock=clock)  # type: ignore[arg-type]


def service(wait: bool, limits: Limits) -> Service:
    return Service(
        origin=Origin("inetd.conf", 1),
        service="echo",
        listen=ListenAddress(Family.INET, "*", 7),
        socket_type=SocketType.STREAM,
        protocol=Protocol.TCP,
        proto_name="tcp",
        wait=wait,
        user="nobody",
        program=Program("/bin/cat", ("cat",)),
        limits=limits,
    )


# --- defaults and effective limits -------------------------------------------------------


def test_defaults_are_freebsd_and_frozen() -> None:
    d = Defaults()
    assert (d.max_child, d.max_conn_per_ip_per_minute, d.max_child_per_ip) == (0, 0, 0)
    assert d.max_per_minute == 256
    assert d.retry_interval == 600.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.max_child = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "kw",
    [
        {"max_child": -1},
        {"max_conn_per_ip_per_minute": -5},
        {"max_child_per_ip": True},
        {"max_per_minute": 1.5},
        {"retry_interval": 0.0},
        {"retry_interval": -1.0},
        {"retry_interval": float("inf")},
        {"retry_interval": float("nan")},
    ],
)
def test_defaults_reject_bad_values(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Defaults(**kw)  # type: ignore[arg-type]


def test_effective_written_values_win_over_defaults() -> None:
    d = Defaults(
        max_child=50,
        max_conn_per_ip_per_minute=10,
        max_child_per_ip=4,
        max_per_minute=100,
        retry_interval=30.0,
    )
    written = Limits(
        max_child=7, max_conn_per_ip_per_minute=3, max_child_per_ip=2, max_per_minute=40
    )
    assert effective_limits(written, wait=False, defaults=d) == EffectiveLimits(7, 3, 2, 40, 30.0)
    assert effective_limits(Limits(), wait=False, defaults=d) == EffectiveLimits(
        50, 10, 4, 100, 30.0
    )


def test_effective_max_child_wait_is_one_unless_written() -> None:
    d = Defaults(max_child=50)
    assert effective_limits(Limits(), wait=True, defaults=d).max_child == 1
    assert effective_limits(Limits(), wait=False, defaults=d).max_child == 50
    assert effective_limits(Limits(max_child=4), wait=True, defaults=d).max_child == 4
    # FreeBSD wait/0: written 0 is unlimited, not "use the wait default".
    assert effective_limits(Limits(max_child=0), wait=True, defaults=d).max_child == 0
    # A written 0 rate is unlimited too, not the -R default.
    assert effective_limits(Limits(max_per_minute=0), wait=False, defaults=d).max_per_minute == 0


def test_limits_for_service_and_for_service_constructor() -> None:
    svc = service(True, Limits(max_per_minute=9))
    eff = limits_for(svc, Defaults())
    assert eff == EffectiveLimits(1, 0, 0, 9, 600.0)
    assert Limiter.for_service(svc, Defaults(), clock=FakeClock()).limits == eff


# --- max-child ----------------------------------------------------------------------------


def test_max_child_stops_accepting_at_the_limit_and_resumes_on_exit() -> None:
    lim = make(FakeClock(), max_child=2)
    assert lim.may_accept()
    lim.started(101, A)
    assert lim.may_accept()
    lim.started(102, B)
    assert lim.children == 2
    assert not lim.may_accept()
    assert lim.exited(101) is True
    assert lim.may_accept()
    assert lim.children == 1


def test_max_child_zero_is_unlimited() -> None:
    lim = make(FakeClock(), max_child=0)
    for pid in range(1, 1001):
        lim.started(pid, None)
    assert lim.children == 1000
    assert lim.may_accept()


def test_wait_service_holds_one_child() -> None:
    lim = Limiter.for_service(service(True, Limits()), Defaults(), clock=FakeClock())
    assert lim.may_accept()
    lim.started(7, None)
    assert not lim.may_accept()
    lim.exited(7)
    assert lim.may_accept()


def test_exited_unknown_pid_is_harmless() -> None:
    lim = make(FakeClock(), max_child=1, max_child_per_ip=1)
    lim.started(5, A)
    assert lim.exited(999) is False
    assert lim.children == 1
    assert lim.children_of(A) == 1
    assert lim.exited(5) is True
    assert lim.exited(5) is False
    assert lim.children == 0
    assert lim.children_of(A) == 0


def test_started_twice_with_one_pid_counts_once() -> None:
    lim = make(FakeClock(), max_child=2)
    lim.started(5, A)
    lim.started(5, B)
    assert lim.children == 1
    assert lim.children_of(A) == 0
    assert lim.children_of(B) == 1


# --- per-IP connections per minute ------------------------------------------------------


def test_connections_per_minute_nth_admitted_n_plus_first_refused() -> None:
    lim = make(FakeClock(1000.0), max_conn_per_ip_per_minute=3)
    assert [lim.admit(A) for _ in range(3)] == [None, None, None]
    refusal = lim.admit(A)
    assert refusal == Refusal(A, Rule.CONNECTIONS_PER_MINUTE, 4, 3)
    assert str(refusal) == "127.0.0.2 refused: 4 connections/min > limit 3"
    # Refused attempts keep counting.
    assert lim.admit(A) == Refusal(A, Rule.CONNECTIONS_PER_MINUTE, 5, 3)
    # Another source has its own minute.
    assert lim.admit(B) is None


def test_refusal_text_from_the_brief() -> None:
    lim = make(FakeClock(), max_conn_per_ip_per_minute=30)
    for _ in range(30):
        assert lim.admit(A) is None
    assert str(lim.admit(A)) == "127.0.0.2 refused: 31 connections/min > limit 30"


def test_connection_expires_when_its_slot_is_six_boundaries_old() -> None:
    clock = FakeClock(1000.0)  # a slot boundary: tick 100 covers [1000, 1010)
    lim = make(clock, max_conn_per_ip_per_minute=1)
    assert lim.admit(A) is None
    clock.now = 1059.999
    assert lim.admit(A) == Refusal(A, Rule.CONNECTIONS_PER_MINUTE, 2, 1)
    clock.now = 1060.0
    # Slot 100 is gone; the refused attempt at 1059.999 (slot 105) still counts.
    assert lim.admit(A) == Refusal(A, Rule.CONNECTIONS_PER_MINUTE, 2, 1)
    clock.now = 1120.0
    # Slots 105 and 106 (the refused attempts) have left the minute as well.
    assert lim.admit(A) is None


def test_slot_granularity_a_late_connection_counts_only_fifty_seconds() -> None:
    clock = FakeClock(1009.9)  # the last moment of the slot [1000, 1010)
    lim = make(clock, max_conn_per_ip_per_minute=1)
    assert lim.admit(A) is None
    assert lim.admit(B) is None
    clock.now = 1059.999
    assert lim.admit(A) == Refusal(A, Rule.CONNECTIONS_PER_MINUTE, 2, 1)
    clock.now = 1060.0
    # 50.1 s after it, the connection's whole ten-second slot has left the minute.
    assert lim.admit(B) is None


def test_sliding_minute_over_several_slots() -> None:
    clock = FakeClock(1000.0)
    lim = make(clock, max_conn_per_ip_per_minute=2)
    assert lim.admit(A) is None  # t=0, slot 100
    clock.now = 1030.0
    assert lim.admit(A) is None  # slot 103
    clock.now = 1055.0
    assert lim.admit(A) is not None  # 3 in the minute
    clock.now = 1060.0
    # Slot 100 left: 103 (1) + 105 (1, refused) + this one = 3.
    assert lim.admit(A) == Refusal(A, Rule.CONNECTIONS_PER_MINUTE, 3, 2)
    clock.now = 1090.0
    # Slot 103 left: 105 (1) + 106 (1) + this = 3.
    assert lim.admit(A) == Refusal(A, Rule.CONNECTIONS_PER_MINUTE, 3, 2)
    clock.now = 1120.0
    # Only slot 109 (1) remains: 2, admitted.
    assert lim.admit(A) is None


def test_no_peer_and_unlimited_keep_no_state() -> None:
    lim = make(FakeClock(), max_conn_per_ip_per_minute=1, max_child_per_ip=1)
    for _ in range(5):
        assert lim.admit(None) is None
    assert lim.tracked_peers == 0
    free = make(FakeClock())
    for _ in range(5):
        assert free.admit(A) is None
    assert free.tracked_peers == 0


# --- per-IP live children ----------------------------------------------------------------


def test_children_per_ip() -> None:
    lim = make(FakeClock(), max_child_per_ip=1)
    assert lim.admit(A) is None
    lim.started(1, A)
    refusal = lim.admit(A)
    assert refusal == Refusal(A, Rule.CHILDREN_PER_IP, 2, 1)
    assert str(refusal) == "127.0.0.2 refused: 2 children > limit 1"
    assert lim.admit(B) is None
    lim.started(2, B)
    lim.exited(1)
    assert lim.admit(A) is None


def test_children_per_ip_nth_admitted() -> None:
    lim = make(FakeClock(), max_child_per_ip=3)
    for pid in (1, 2):
        assert lim.admit(A) is None
        lim.started(pid, A)
    assert lim.admit(A) is None  # the third child is within the limit
    lim.started(3, A)
    assert lim.admit(A) == Refusal(A, Rule.CHILDREN_PER_IP, 4, 3)


def test_rate_is_checked_before_children_and_children_refusals_count() -> None:
    lim = make(FakeClock(), max_conn_per_ip_per_minute=2, max_child_per_ip=1)
    assert lim.admit(A) is None
    lim.started(1, A)
    assert lim.admit(A) == Refusal(A, Rule.CHILDREN_PER_IP, 2, 1)  # counted: 2 this minute
    lim.exited(1)
    # The children refusal used up the minute's second connection.
    assert lim.admit(A) == Refusal(A, Rule.CONNECTIONS_PER_MINUTE, 3, 2)


def test_children_per_ip_ignores_unix_children() -> None:
    lim = make(FakeClock(), max_child_per_ip=1)
    lim.started(1, None)
    lim.started(2, None)
    assert lim.admit(A) is None
    assert lim.tracked_peers == 0


# --- looping guard -----------------------------------------------------------------------


def test_looping_guard_allows_n_and_trips_on_n_plus_one() -> None:
    clock = FakeClock(1000.0)
    lim = make(clock, max_per_minute=3)
    assert [lim.invoke() for _ in range(3)] == [None, None, None]
    assert lim.may_accept()
    pause = lim.invoke()
    assert pause == Pause(seconds=600.0, until=1600.0)
    assert str(pause) == "server failing (looping), service paused for 600 s"
    assert not lim.may_accept()
    assert lim.pause == pause


def test_looping_window_expires_at_exactly_sixty_seconds() -> None:
    clock = FakeClock(1000.0)
    lim = make(clock, max_per_minute=2)
    assert lim.invoke() is None
    assert lim.invoke() is None
    clock.now = 1060.0
    assert lim.invoke() is None  # a new window starts here
    clock.now = 1119.999
    assert lim.invoke() is None
    assert lim.invoke() is not None  # third in the window anchored at 1060


def test_looping_window_still_open_just_before_sixty_seconds() -> None:
    clock = FakeClock(1000.0)
    lim = make(clock, max_per_minute=2)
    assert lim.invoke() is None
    clock.now = 1059.999
    assert lim.invoke() is None
    assert lim.invoke() == Pause(600.0, 1659.999)


def test_window_is_anchored_at_first_invocation_not_sliding() -> None:
    clock = FakeClock(1000.0)
    lim = make(clock, max_per_minute=2)
    assert lim.invoke() is None
    clock.now = 1050.0
    assert lim.invoke() is None
    clock.now = 1065.0
    # A sliding minute would hold two (1050, 1065) and one more would trip; the window
    # anchored at 1000 ended, so this starts a new one.
    assert lim.invoke() is None
    assert lim.invoke() is None
    assert lim.invoke() is not None


def test_pause_ends_at_retry_interval_and_counter_is_reset() -> None:
    clock = FakeClock(1000.0)
    lim = make(clock, max_per_minute=1, retry_interval=5.0)
    assert lim.invoke() is None
    pause = lim.invoke()
    assert pause == Pause(5.0, 1005.0)
    assert str(pause) == "server failing (looping), service paused for 5 s"
    clock.now = 1004.999
    assert not lim.may_accept()
    assert lim.invoke() is pause  # still paused: same pause, nothing counted
    clock.now = 1005.0
    assert lim.pause is None
    assert lim.may_accept()
    assert lim.invoke() is None  # the counter restarted after the trip
    assert lim.invoke() == Pause(5.0, 1010.0)


def test_resume_ends_the_pause_when_the_core_timer_fires_early() -> None:
    clock = FakeClock(1000.0)
    lim = make(clock, max_per_minute=1, retry_interval=10.0)
    lim.invoke()
    assert lim.invoke() is not None
    clock.now = 1009.9995
    lim.resume()
    assert lim.may_accept()
    assert lim.invoke() is None


def test_pause_also_holds_while_children_are_below_max() -> None:
    clock = FakeClock()
    lim = make(clock, max_child=5, max_per_minute=1)
    lim.invoke()
    lim.invoke()
    assert lim.children == 0
    assert not lim.may_accept()


def test_fractional_retry_interval_text() -> None:
    assert str(Pause(0.25, 0.0)) == "server failing (looping), service paused for 0.25 s"
    assert str(Pause(90.0, 0.0)) == "server failing (looping), service paused for 90 s"


def test_looping_limit_zero_is_unlimited() -> None:
    lim = make(FakeClock(), max_per_minute=0)
    assert all(lim.invoke() is None for _ in range(10_000))


def test_default_limit_256_trips_on_257th() -> None:
    lim = Limiter.for_service(service(False, Limits()), Defaults(), clock=FakeClock())
    assert all(lim.invoke() is None for _ in range(256))
    assert lim.invoke() is not None


# --- reload ------------------------------------------------------------------------------


def test_update_keeps_children_and_recomputes_may_accept() -> None:
    lim = make(FakeClock(), max_child=2, max_child_per_ip=2)
    lim.started(1, A)
    lim.started(2, A)
    assert not lim.may_accept()
    lim.update(EffectiveLimits(3, 0, 2, 0, 600.0))
    assert lim.may_accept()
    assert lim.admit(A) == Refusal(A, Rule.CHILDREN_PER_IP, 3, 2)
    lim.update(EffectiveLimits(1, 0, 3, 0, 600.0))
    assert not lim.may_accept()
    assert lim.admit(A) is None
    lim.exited(1)
    assert not lim.may_accept()
    lim.exited(2)
    assert lim.may_accept()


def test_update_keeps_per_ip_windows() -> None:
    lim = make(FakeClock(), max_conn_per_ip_per_minute=3)
    for _ in range(3):
        assert lim.admit(A) is None
    lim.update(EffectiveLimits(0, 5, 0, 0, 600.0))
    assert lim.admit(A) is None
    assert lim.admit(A) is None
    assert lim.admit(A) == Refusal(A, Rule.CONNECTIONS_PER_MINUTE, 6, 5)
    lim.update(EffectiveLimits(0, 2, 0, 0, 600.0))
    assert lim.admit(A) == Refusal(A, Rule.CONNECTIONS_PER_MINUTE, 7, 2)


def test_update_keeps_looping_window_and_pause() -> None:
    clock = FakeClock(1000.0)
    lim = make(clock, max_per_minute=3)
    assert lim.invoke() is None
    assert lim.invoke() is None
    lim.update(EffectiveLimits(0, 0, 0, 2, 600.0))
    pause = lim.invoke()
    assert pause == Pause(600.0, 1600.0)
    lim.update(EffectiveLimits(0, 0, 0, 100, 30.0))
    assert lim.pause == pause
    assert not lim.may_accept()


def test_update_to_unlimited_rate_forgets_idle_sources_and_counts() -> None:
    lim = make(FakeClock(), max_conn_per_ip_per_minute=1, max_child_per_ip=5)
    assert lim.admit(A) is None
    assert lim.admit(B) is None
    lim.started(1, B)
    lim.update(EffectiveLimits(0, 0, 5, 0, 600.0))
    assert lim.tracked_peers == 1
    assert lim.children_of(B) == 1
    lim.update(EffectiveLimits(0, 1, 5, 0, 600.0))
    assert lim.admit(B) is None  # its earlier count was forgotten, not resurrected
    lim.exited(1)


# --- bounded per-source state ----------------------------------------------------------


def test_idle_sources_are_swept_after_a_minute() -> None:
    clock = FakeClock(1000.0)
    lim = make(clock, max_conn_per_ip_per_minute=5)
    for i in range(1000):
        assert lim.admit(f"10.0.{i // 256}.{i % 256}") is None
    assert lim.tracked_peers == 1000
    clock.now = 1059.0
    assert lim.admit(A) is None
    assert lim.tracked_peers == 1001  # still within their minute
    clock.now = 1060.0
    assert lim.admit(B) is None
    assert lim.tracked_peers == 2


def test_sweep_keeps_sources_with_live_children() -> None:
    clock = FakeClock(1000.0)
    lim = make(clock, max_conn_per_ip_per_minute=5, max_child_per_ip=1)
    assert lim.admit(A) is None
    lim.started(1, A)
    clock.now = 1200.0
    assert lim.admit(B) is None
    assert lim.tracked_peers == 2
    assert lim.admit(A) == Refusal(A, Rule.CHILDREN_PER_IP, 2, 1)
    lim.exited(1)
    assert lim.tracked_peers == 2  # A was counted just now: it stays
    clock.now = 1300.0
    assert lim.admit(B) is None
    assert lim.tracked_peers == 1


def test_exit_drops_a_source_without_recent_counts() -> None:
    clock = FakeClock(1000.0)
    lim = make(clock, max_conn_per_ip_per_minute=5)
    assert lim.admit(A) is None
    lim.started(1, A)
    clock.now = 1059.0
    lim.exited(1)
    assert lim.tracked_peers == 1
    lim.started(2, A)
    clock.now = 1060.0
    lim.exited(2)
    assert lim.tracked_peers == 0


def test_exit_drops_children_only_source() -> None:
    lim = make(FakeClock(), max_child_per_ip=2)
    lim.started(1, A)
    assert lim.tracked_peers == 1
    lim.exited(1)
    assert lim.tracked_peers == 0


def test_peer_table_is_capped() -> None:
    clock = FakeClock(1000.0)
    lim = Limiter(EffectiveLimits(0, 1, 0, 0, 600.0), clock=clock, max_peers=4)
    lim.started(1, "10.0.0.1")  # a source with a live child is never evicted
    for i in range(2, 50):
        assert lim.admit(f"10.0.0.{i}") is None
        assert lim.tracked_peers <= 4
    assert lim.children_of("10.0.0.1") == 1
    assert lim.admit("10.0.0.49") is not None  # the most recent source kept its count


# --- refusal log -------------------------------------------------------------------------


def conn_refusal(peer: str = A, count: int = 31) -> Refusal:
    return Refusal(peer, Rule.CONNECTIONS_PER_MINUTE, count, 30)


def test_refusal_log_first_line_then_summary() -> None:
    clock = FakeClock(1000.0)
    log = RefusalLog(clock=clock)
    assert log.refused("echo/tcp", conn_refusal()) == [
        "echo/tcp: 127.0.0.2 refused: 31 connections/min > limit 30"
    ]
    for n in range(57):
        clock.now = 1000.0 + n
        assert log.refused("echo/tcp", conn_refusal(count=32 + n)) == []
    clock.now = 1059.999
    assert log.expire() == []
    assert log.next_due() == 1060.0
    clock.now = 1060.0
    assert log.expire() == [
        "echo/tcp: 127.0.0.2 refused 57 more times in 60 s: connections/min > limit 30"
    ]
    # Idle for a whole interval after the summary: forgotten silently.
    clock.now = 1120.0
    assert log.expire() == []
    assert len(log) == 0
    assert log.next_due() is None
    assert log.refused("echo/tcp", conn_refusal()) == [
        "echo/tcp: 127.0.0.2 refused: 31 connections/min > limit 30"
    ]


def test_refusal_log_single_refusal_is_forgotten_without_summary() -> None:
    clock = FakeClock(1000.0)
    log = RefusalLog(clock=clock)
    log.refused("echo/tcp", conn_refusal())
    clock.now = 1060.0
    assert log.expire() == []
    assert len(log) == 0


def test_refusal_log_steady_flood_gives_one_line_per_interval() -> None:
    clock = FakeClock(1000.0)
    log = RefusalLog(clock=clock)
    lines: list[str] = []
    for step in range(3000):  # one refusal every 0.1 s for 300 s
        clock.now = 1000.0 + step / 10
        lines += log.refused("echo/tcp", conn_refusal())
    assert len(lines) == 5
    assert lines[0] == "echo/tcp: 127.0.0.2 refused: 31 connections/min > limit 30"
    assert lines[1].startswith("echo/tcp: 127.0.0.2 refused ")
    assert all(line.endswith("in 60 s: connections/min > limit 30") for line in lines[1:])
    counted = sum(int(line.split(" refused ")[1].split()[0]) for line in lines[1:])
    assert counted + 1 + 600 == 3000  # the last interval is not summarised yet


def test_refusal_log_keys_by_service_source_and_rule() -> None:
    log = RefusalLog(clock=FakeClock())
    assert len(log.refused("echo/tcp", conn_refusal(A))) == 1
    assert len(log.refused("echo/tcp", conn_refusal(B))) == 1
    assert len(log.refused("chargen/tcp", conn_refusal(A))) == 1
    children = Refusal(A, Rule.CHILDREN_PER_IP, 2, 1)
    assert log.refused("echo/tcp", children) == [
        "echo/tcp: 127.0.0.2 refused: 2 children > limit 1"
    ]
    assert log.refused("echo/tcp", conn_refusal(A)) == []


def test_refusal_log_summaries_come_out_of_refused_too() -> None:
    clock = FakeClock(1000.0)
    log = RefusalLog(clock=clock)
    log.refused("echo/tcp", conn_refusal(A))
    log.refused("echo/tcp", conn_refusal(A))
    clock.now = 1075.0
    assert log.refused("echo/tcp", conn_refusal(B)) == [
        "echo/tcp: 127.0.0.2 refused 1 more times in 75 s: connections/min > limit 30",
        "echo/tcp: 127.0.0.3 refused: 31 connections/min > limit 30",
    ]


def test_refusal_log_summary_uses_latest_reason_after_reload() -> None:
    clock = FakeClock(1000.0)
    log = RefusalLog(clock=clock)
    log.refused("echo/tcp", conn_refusal())
    log.refused("echo/tcp", Refusal(A, Rule.CONNECTIONS_PER_MINUTE, 11, 10))
    clock.now = 1060.0
    assert log.expire() == [
        "echo/tcp: 127.0.0.2 refused 1 more times in 60 s: connections/min > limit 10"
    ]


def test_refusal_log_is_capped_and_counts_the_overflow() -> None:
    clock = FakeClock(1000.0)
    log = RefusalLog(clock=clock, max_sources=2)
    assert len(log.refused("echo/tcp", conn_refusal("10.0.0.1"))) == 1
    assert len(log.refused("echo/tcp", conn_refusal("10.0.0.2"))) == 1
    # The first source beyond the cap is still shown, the rest only counted.
    assert log.refused("echo/tcp", conn_refusal("10.0.0.3")) == [
        "echo/tcp: 10.0.0.3 refused: 31 connections/min > limit 30"
    ]
    for i in range(4, 1000):
        assert log.refused("echo/tcp", conn_refusal(f"10.0.{i // 256}.{i % 256}")) == []
    assert len(log) == 3
    clock.now = 1060.0
    assert log.expire() == [
        "echo/tcp: refused 996 more times in 60 s from sources beyond the 2 listed"
    ]
    clock.now = 1120.0
    assert log.expire() == []
    assert len(log) == 0


def test_refusal_log_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        RefusalLog(interval=0)
    with pytest.raises(ValueError):
        RefusalLog(max_sources=0)
    with pytest.raises(ValueError):
        Limiter(EffectiveLimits(0, 0, 0, 0, 1.0), max_peers=0)


# --- purity ------------------------------------------------------------------------------


def test_limits_module_imports_only_pure_modules() -> None:
    tree = ast.parse(Path(limits_module.__file__).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    allowed = {
        "__future__",
        "enum",
        "math",
        "time",
        "collections",
        "collections.abc",
        "dataclasses",
        "pyinetd.model",
    }
    assert imported <= allowed, imported - allowed


def test_trip_pauses_at_once_even_with_the_rate_off() -> None:
    clock = FakeClock()
    lim = Limiter(
        effective_limits(
            Limits(max_per_minute=0), wait=True, defaults=Defaults(retry_interval=30.0)
        ),
        clock=clock,
    )
    assert lim.invoke() is None
    pause = lim.trip()
    assert pause.seconds == 30.0 and pause.until == clock() + 30.0
    assert lim.trip() is pause  # tripping again while paused changes nothing
    assert not lim.may_accept()
    lim.resume()
    assert lim.may_accept()
