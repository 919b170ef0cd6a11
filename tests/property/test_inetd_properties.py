"""Hypothesis properties of the inetd.conf parser.

- rendering a parsed service and parsing it back gives the same service;
- continuation lines, comments, blank lines, runs of blanks and CRLF do not change what a
  file means;
- arbitrary text never raises: it yields errors, each on a line inside the file.
"""

from __future__ import annotations

import dataclasses
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyinetd.config import render
from pyinetd.config.inetd import parse
from pyinetd.config.resolve import StaticResolver
from pyinetd.errors import ConfigError, ConfigNote
from pyinetd.model import Config, Family, Origin, Service

F = "inetd.conf"
NAMES = ["echo", "discard", "chargen", "daytime", "time", "ftp", "finger", "source", "tcpmux"]
PORTS = {"echo": 7, "discard": 9, "chargen": 19, "source": 19, "daytime": 13, "time": 37}
PORTS |= {"ftp": 21, "finger": 79, "tcpmux": 1}
OFFICIAL = {"source": "chargen"}
RESOLVER = StaticResolver(
    services={
        (name, proto): (port, OFFICIAL.get(name, name))
        for name, port in PORTS.items()
        for proto in ("tcp", "udp")
    },
    users={"root": "wheel", "nobody": "nogroup", "a.b": "staff"},
    groups={"wheel", "nogroup", "staff", "daemon"},
    programs={"/bin/x", "/usr/libexec/ftpd", "/usr/bin/y z"},
    hosts={
        ("localhost", Family.INET): ["127.0.0.1"],
        ("localhost", Family.INET6): ["::1"],
        ("multi", Family.INET): ["192.0.2.1", "192.0.2.2"],
        ("multi", Family.INET6): ["2001:db8::1"],
    },
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def quote(word: str) -> str:
    if word == "" or any(c in " \t\r" for c in word) or word[0] in "\"'":
        q = "'" if '"' in word else '"'
        return f"{q}{word}{q}"
    return word


# Arguments: anything on one line that quoting can carry (not both quote characters).
arg = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=8
).filter(lambda w: not ('"' in w and "'" in w))
args = st.lists(arg, max_size=4)
waits = st.builds(
    lambda word, slash, rate: word + "".join(f"/{n}" for n in slash) + rate,
    st.sampled_from(["wait", "nowait"]),
    st.lists(st.integers(0, 32767), max_size=3),
    st.sampled_from(["", ".0", ".40", ":400", ".7"]),
)
users = st.sampled_from(
    ["root", "nobody", "nobody:nogroup", "root:wheel/daemon", "nobody.nogroup", "a.b", "a.b:staff"]
)
servers = st.one_of(
    st.builds(lambda a: ["internal", *a], args),
    st.builds(
        lambda p, a: [p, *a], st.sampled_from(["/bin/x", "/usr/libexec/ftpd", "/usr/bin/y z"]), args
    ),
)
buffers = st.lists(
    st.builds(
        lambda kind, n, unit: f",{kind}={n}{unit}",
        st.sampled_from(["sndbuf", "rcvbuf"]),
        st.integers(1, 9999),
        st.sampled_from(["", "k", "m"]),
    ),
    max_size=2,
    unique_by=lambda o: o.split("=")[0],
).map("".join)


@st.composite
def inet_heads(draw: st.DrawFn) -> list[str]:
    transport = draw(st.sampled_from(["tcp", "udp"]))
    version = draw(st.sampled_from(["", "4", "6", "46", "64"]))
    v6 = "6" in version
    service = draw(st.one_of(st.sampled_from(NAMES), st.integers(0, 65535).map(str)))
    if transport == "tcp" and draw(st.booleans()):
        service = "tcpmux/" + draw(st.sampled_from(["", "+"])) + draw(st.sampled_from(NAMES))
    hosts = ["*", "localhost", "multi"] + (["[::1]", "[2001:db8::5]"] if v6 else ["127.0.0.1"])
    host = draw(st.lists(st.sampled_from(hosts), max_size=2, unique=True))
    spec = (",".join(host) + ":" + service) if host else service
    socktype = "stream" if transport == "tcp" else "dgram"
    return [spec, socktype, transport + version + draw(buffers)]


@st.composite
def other_heads(draw: st.DrawFn) -> list[str]:
    if draw(st.booleans()):
        transport = draw(st.sampled_from(["tcp", "udp"]))
        name = draw(st.sampled_from(["rstatd", "walld", "echo"]))
        low = draw(st.integers(1, 4))
        versions = draw(st.sampled_from(["", f"/{low}", f"/{low}-{low + 2}"]))
        return [
            name + versions,
            "stream" if transport == "tcp" else "dgram",
            "rpc/" + transport + draw(st.sampled_from(["", "6"])),
        ]
    path = "/" + draw(st.sampled_from(["run/echo", "tmp/chargen", "var/s p", "x:"]))
    mode = draw(st.integers(0, 0o7777))
    prefix = draw(st.sampled_from(["", f":root:wheel:{mode:o}:", f":nobody:daemon:{mode:o}:"]))
    return [prefix + path, draw(st.sampled_from(["stream", "dgram", "seqpacket"])), "unix"]


entries = st.builds(
    lambda head, wait, user, server: [*head, wait, user, *server],
    st.one_of(inet_heads(), other_heads()),
    waits,
    users,
    servers,
)
host_lines = st.sampled_from([["127.0.0.1:"], ["*:"], ["localhost,[::1]:"], [":"], ["multi:"]])
files = st.lists(st.one_of(entries, entries, entries, host_lines), max_size=8)


def plain_text(file: list[list[str]]) -> str:
    return "".join(" ".join(quote(w) for w in words) + "\n" for words in file)


def without_origin(config: Config) -> tuple[object, ...]:
    """The config with line numbers replaced by the entry's rank among the lines used."""
    labelled = [n for n in config.notes if n.label is not None]
    used = {x.origin.line for x in (*config.services, *config.errors, *labelled)}
    rank = {line: i for i, line in enumerate(sorted(used))}

    def message(text: str) -> str:
        m = re.search(r" at inetd\.conf:([0-9]+)$", text)
        if m is None:
            return text
        return text[: m.start()] + f" at entry {rank[int(m.group(1))]}"

    return (
        [dataclasses.replace(s, origin=Origin(F, rank[s.origin.line])) for s in config.services],
        [(type(e), rank[e.origin.line], e.label, message(e.message)) for e in config.errors],
        [(rank[e.origin.line], e.label, e.message) for e in labelled],
    )


def nowhere(s: Service) -> Service:
    return dataclasses.replace(s, origin=Origin(F, 0))


@SETTINGS
@given(files)
def test_render_then_parse_gives_the_same_service(file: list[list[str]]) -> None:
    config = parse(plain_text(file), F, RESOLVER)
    for service in config.services:
        line = render(service)
        again = parse(line + "\n", F, RESOLVER)
        assert again.errors == (), (line, again.errors)
        assert [nowhere(s) for s in again.services] == [nowhere(service)], line


blank = st.text(st.sampled_from(" \t"), min_size=1, max_size=3)
optional_blank = st.text(st.sampled_from(" \t"), max_size=3)
filler_line = st.one_of(
    st.just(""),
    st.builds(lambda t: "#" + t, st.text(st.sampled_from("ab #@:\t"), max_size=6)),
    st.just("#@ in entrust"),
)


@st.composite
def variant(draw: st.DrawFn, file: list[list[str]]) -> str:
    """The same file written differently: blanks, continuations, comments, CRLF."""
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    out: list[str] = []
    for words in file:
        out.extend(draw(st.lists(filler_line, max_size=2)))
        line = quote(words[0])
        for word in words[1:]:
            if draw(st.integers(0, 4)) == 0:
                out.append(line + draw(optional_blank))
                if draw(st.booleans()):
                    out.append(draw(blank))
                line = draw(blank) + quote(word)
            else:
                line += draw(blank) + quote(word)
        out.append(line + draw(optional_blank))
    out.extend(draw(st.lists(filler_line, max_size=2)))
    return "".join(line + eol for line in out)


@SETTINGS
@given(st.data(), files)
def test_layout_does_not_change_the_meaning(data: st.DataObject, file: list[list[str]]) -> None:
    reference = parse(plain_text(file), F, RESOLVER)
    text = data.draw(variant(file))
    changed = parse(text, F, RESOLVER)
    ipsec = sum(1 for line in text.splitlines() if line.startswith("#@"))
    assert without_origin(changed) == without_origin(reference)
    assert len(changed.notes) - len(reference.notes) == ipsec


VOCABULARY = [
    "echo",
    "tcpmux/+x",
    "rstatd/1-2",
    "/run/echo",
    ":root:wheel:644:/p",
    "stream",
    "dgram",
    "raw",
    "tcp",
    "udp46",
    "rpc/tcp",
    "unix",
    "tcp,sndbuf=1k",
    "tcp,rcvbuf=0",
    "nowait",
    "wait/1/2/3",
    "nowait.5",
    "waitx",
    "root",
    "nobody.nogroup",
    "root:wheel/c",
    "internal",
    "/bin/x",
    "127.0.0.1:",
    "[::1]:echo",
    "multi,localhost:time",
    "*:",
    "#",
    "#@",
    '"',
    "'",
    ":",
    "[",
    "]",
    ",",
    "/",
    "\r",
    "\t",
    " ",
    "\x00",
    "\ufeff",
    "é",
    "",
]
soup = st.lists(
    st.one_of(
        st.sampled_from(VOCABULARY), st.sampled_from([" ", "\t", "\n", "\r\n", "\n\t", "\n "])
    ),
    max_size=60,
).map("".join)


def check_total(text: str) -> None:
    config = parse(text, F, RESOLVER)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for item in (*config.errors, *config.notes):
        assert isinstance(item, ConfigError)
        assert 1 <= item.origin.line <= len(lines), (item, len(lines))
    for note in config.notes:
        assert isinstance(note, ConfigNote)
    for service in config.services:
        assert 1 <= service.origin.line <= len(lines)
        assert (service.program is None) != (service.builtin is None)


@SETTINGS
@given(st.text())
def test_arbitrary_text_only_yields_errors(text: str) -> None:
    check_total(text)


@SETTINGS
@given(soup)
def test_inetd_like_text_only_yields_errors(text: str) -> None:
    check_total(text)


@SETTINGS
@given(st.lists(st.one_of(entries, host_lines), max_size=6), st.data())
def test_mangled_entries_only_yield_errors(file: list[list[str]], data: st.DataObject) -> None:
    text = plain_text(file)
    if text:
        cut = data.draw(st.integers(0, len(text)))
        text = text[:cut] + data.draw(st.sampled_from(VOCABULARY)) + text[cut:]
    check_total(text)
