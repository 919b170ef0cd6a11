"""Exact bytes of the small services, the datagram answers and the UDP loop guard."""

from __future__ import annotations

import re
import struct
import time

import pytest

from pyinetd.builtins import (
    CHARGEN_LINES,
    DGRAM_BUILTINS,
    STREAM_BUILTINS,
    TCPMUX_GO,
    TCPMUX_UNAVAILABLE,
    DatagramBuiltins,
    chargen_line,
    daytime_bytes,
    is_loop_source,
    tcpmux_help,
    time_bytes,
)

FIRST_LINE = b" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n"
DAYTIME = re.compile(rb"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\r\n$")


def test_builtin_name_sets() -> None:
    expected = {"echo", "discard", "chargen", "daytime", "time"}
    assert expected == STREAM_BUILTINS
    assert expected == DGRAM_BUILTINS


def test_chargen_first_lines() -> None:
    assert len(FIRST_LINE) == 74
    assert chargen_line(0) == FIRST_LINE
    second = chargen_line(1)
    assert second.startswith(b'!"#')
    assert second == FIRST_LINE[1:72] + b"h\r\n"


def test_chargen_every_line_is_72_printable_chars_and_crlf() -> None:
    assert len(CHARGEN_LINES) == 95
    for index, line in enumerate(CHARGEN_LINES):
        assert len(line) == 74
        assert line.endswith(b"\r\n")
        body = line[:72]
        assert all(0x20 <= c <= 0x7E for c in body)
        assert body[0] == 0x20 + index
        # Each character is the ring successor of the one before it.
        for a, b in zip(body, body[1:], strict=False):
            assert b == (a - 0x20 + 1) % 95 + 0x20


def test_chargen_ring_wraps_after_95_lines() -> None:
    assert chargen_line(94).startswith(b'~ !"')
    assert chargen_line(95) == FIRST_LINE
    assert chargen_line(95 * 3 + 7) == chargen_line(7)


def test_daytime_format_and_length() -> None:
    reply = daytime_bytes()
    assert len(reply) == 26
    assert DAYTIME.match(reply), reply


def test_daytime_is_local_ctime_of_given_instant() -> None:
    instant = 1_000_000_000.0
    assert daytime_bytes(instant) == time.ctime(instant).encode() + b"\r\n"
    # A single-digit day of the month is space padded, keeping the 26 bytes.
    when = time.mktime((2024, 3, 5, 12, 0, 0, 0, 0, -1))
    reply = daytime_bytes(when)
    assert reply[4:11] == b"Mar  5 "
    assert len(reply) == 26


def test_time_now_is_within_two_seconds() -> None:
    reply = time_bytes()
    assert len(reply) == 4
    (value,) = struct.unpack("!I", reply)
    assert abs(value - 2208988800 - time.time()) <= 2


def test_time_exact_values_and_2036_wrap() -> None:
    assert time_bytes(0.0) == struct.pack("!I", 2208988800)
    assert time_bytes(1_700_000_000.9) == struct.pack("!I", 1_700_000_000 + 2208988800)
    # 2036-02-07 06:28:16 UTC is 2**32 seconds after 1900: the counter starts again at 0.
    wrap = 2**32 - 2208988800
    assert time_bytes(float(wrap)) == b"\0\0\0\0"
    assert time_bytes(float(wrap - 1)) == b"\xff\xff\xff\xff"


def test_datagram_echo_returns_any_size_untouched() -> None:
    answers = DatagramBuiltins()
    payload = bytes(range(256)) * 256  # 64 KiB, larger than OpenBSD's 4 KiB buffer
    assert answers.reply("echo", payload) == payload
    assert answers.reply("echo", b"") == b""


def test_datagram_discard_answers_nothing() -> None:
    assert DatagramBuiltins().reply("discard", b"anything") is None


def test_datagram_chargen_rotates_across_calls_and_wraps() -> None:
    answers = DatagramBuiltins()
    first = answers.reply("chargen", b"")
    second = answers.reply("chargen", b"ignored payload")
    assert first == FIRST_LINE
    assert second is not None and len(second) == 74
    assert second == chargen_line(1)
    for _ in range(93):
        answers.reply("chargen", b"")
    assert answers.reply("chargen", b"") == FIRST_LINE


def test_datagram_chargen_rotation_is_per_instance() -> None:
    one, two = DatagramBuiltins(), DatagramBuiltins()
    one.reply("chargen", b"")
    assert two.reply("chargen", b"") == FIRST_LINE


def test_datagram_daytime_and_time() -> None:
    answers = DatagramBuiltins()
    daytime = answers.reply("daytime", b"")
    assert daytime is not None and DAYTIME.match(daytime)
    assert answers.reply("time", b"x", now=0.0) == struct.pack("!I", 2208988800)
    assert answers.reply("daytime", b"", now=0.0) == time.ctime(0).encode() + b"\r\n"


def test_datagram_unknown_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="tcpmux"):
        DatagramBuiltins().reply("tcpmux", b"")


INTERNAL = frozenset({7, 19, 13})


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("127.0.0.1", 19),  # FreeBSD check_loop: our own chargen/udp port
        ("192.0.2.10", 7),
        ("::1", 13),
        ("224.0.0.1", 40000),
        ("239.255.255.250", 40000),
        ("255.255.255.255", 40000),
        ("0.0.0.0", 40000),
        ("0.1.2.3", 40000),
        ("::", 40000),
        ("ff02::1", 40000),
        ("ff05::1%eth0", 40000),
        ("::ffff:224.0.0.5", 40000),
        ("::ffff:255.255.255.255", 40000),
        ("::ffff:0.0.0.0", 40000),
        ("::ffff:0.9.9.9", 40000),
        ("127.0.0.1", 0),
    ],
)
def test_loop_sources_are_dropped(host: str, port: int) -> None:
    assert is_loop_source(host, port, INTERNAL)


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("127.0.0.1", 40000),
        ("192.0.2.255", 40000),  # x.x.x.255 is a host in many classless subnets
        ("10.255.255.255", 40000),
        ("198.51.100.7", 2049),  # OpenBSD drops NFS's port; FreeBSD (and we) do not
        ("198.51.100.7", 1023),  # nor low ports in general (Debian restored them)
        ("::1", 40000),
        ("fe80::1%lo", 40000),
        ("2001:db8::1", 19000),
        ("::ffff:127.0.0.1", 40000),  # a v4 peer on a dual-stack socket
        ("/tmp/client.sock", 0),  # UNIX datagram peer: only the port rule could apply
        ("", 0),
    ],
)
def test_ordinary_sources_are_answered(host: str, port: int) -> None:
    assert not is_loop_source(host, port, INTERNAL)


def test_loop_check_uses_the_given_port_set() -> None:
    assert not is_loop_source("127.0.0.1", 19, frozenset())
    assert is_loop_source("127.0.0.1", 5353, frozenset({5353}))


def test_tcpmux_replies() -> None:
    assert TCPMUX_GO == b"+Go\r\n"
    assert TCPMUX_UNAVAILABLE == b"-Service not available\r\n"
    assert tcpmux_help(["date", "Echo"]) == b"date\r\nEcho\r\n"
    assert tcpmux_help(iter(())) == b""
