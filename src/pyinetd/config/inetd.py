"""The inetd.conf lexer and parser: every dialect of the classic inetds, one model.

Owns: turning the text of one file into `Config` (services, errors, notes), the duplicate
check, and the small field grammars `render` in `config/__init__.py` writes back.
Must not: open files, touch sockets, or let anything but a `ConfigError` value out --
every problem becomes an entry in `Config.errors` and the next entry is parsed as usual.
All machine lookups go through the `Resolver` it is given.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyinetd.config.resolve import Resolver
from pyinetd.errors import ConfigError, ConfigNote
from pyinetd.model import (
    BUILTIN_NAMES,
    WILDCARD,
    Builtin,
    Config,
    Family,
    Limits,
    ListenAddress,
    Origin,
    Program,
    Protocol,
    Rpc,
    Service,
    SocketType,
    Tcpmux,
)

__all__ = [
    "MAX_CHILD",
    "UNIX_PATH_MAX",
    "ProtocolSpec",
    "check_duplicates",
    "parse",
    "parse_protocol",
    "tokenize",
]

# FreeBSD's MAX_MAXCHLD: max-child is kept in a short there.
MAX_CHILD = 32767
# sizeof(sun_path) on Linux is 108, one byte of which is the terminating NUL.
UNIX_PATH_MAX = 107
# Every other number ends up in a C int (setsockopt, counters).
_INT_MAX = 2**31 - 1
_RPC_VERSION_MAX = 2**32 - 1
_DIGITS = re.compile(r"[0-9]+")
_BUFFER_OPTION = re.compile(r"(sndbuf|rcvbuf)=([0-9]+)([kKmM]?)")
_BUFFER_UNITS = {"": 1, "k": 1024, "K": 1024, "m": 1024 * 1024, "M": 1024 * 1024}
_MIN_FIELDS = 6
_BLANKS = " \t"


class _EntryError(Exception):
    """Internal control flow: one entry (or one address of it) is rejected."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------------------- lexing


def tokenize(line: str) -> tuple[list[str], str | None]:
    """Split one physical line into words: space/tab separated, `"..."`/`'...'` quoted.

    A quote only opens a quoted word at the start of a word (FreeBSD: `a"b` is one plain
    word) and the closing quote ends the word. Returns the words and an error, if any.
    """
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c in _BLANKS:
            i += 1
        elif c in "\"'":
            end = line.find(c, i + 1)
            if end < 0:
                return words, f"unterminated {c} quote"
            words.append(line[i + 1 : end])
            i = end + 1
        else:
            j = i
            while j < n and line[j] not in _BLANKS:
                j += 1
            words.append(line[i:j])
            i = j
    return words, None


@dataclass
class _Logical:
    """One logical entry: its first physical line and the words of all its lines."""

    line: int
    words: list[str] = field(default_factory=list)
    error: str | None = None


def _logical_lines(text: str, file: str) -> tuple[list[_Logical], list[ConfigNote]]:
    entries: list[_Logical] = []
    notes: list[ConfigNote] = []
    current: _Logical | None = None
    if text.startswith("\ufeff"):
        text = text[1:]
    physical = text.split("\n")
    if physical and physical[-1] == "":
        physical.pop()
    for number, raw in enumerate(physical, start=1):
        # CRLF files: GNU strips the \r; the BSDs keep it in the last word, so exec fails.
        line = raw[:-1] if raw.endswith("\r") else raw
        if line.startswith("#"):
            current = None
            if line.startswith("#@"):
                notes.append(
                    ConfigNote(
                        Origin(file, number),
                        None,
                        "IPsec policy line (#@) ignored: pyinetd does not set IPsec policies",
                    )
                )
            continue
        if line == "":
            current = None
            continue
        continued = line[0] in _BLANKS
        if not continued and current is not None:
            current = None
        words, error = tokenize(line)
        if current is None:
            if not words and error is None:
                continue
            current = _Logical(number)
            entries.append(current)
        current.words.extend(words)
        if error is not None and current.error is None:
            current.error = error
    return entries, notes


# ------------------------------------------------------------------- field grammars


@dataclass(frozen=True)
class ProtocolSpec:
    """Field 3, decoded: `proto_name` is the word less its buffer options."""

    proto_name: str
    protocol: Protocol
    family: Family
    sndbuf: int | None = None
    rcvbuf: int | None = None


def parse_protocol(word: str) -> ProtocolSpec:
    """Decode the protocol field; raises `ValueError(message)` when it is bad."""
    base, *options = word.split(",")
    if base == "unix":
        spec = ProtocolSpec(base, Protocol.UNIX, Family.UNIX)
    else:
        rpc = base.startswith("rpc/")
        transport = base[4:] if rpc else base
        if transport == "faith" or transport.endswith("/faith"):
            raise ValueError(f'protocol "{base}" is not supported: FAITH was removed')
        m = re.fullmatch(r"(tcp|udp)([0-9]*)", transport)
        if m is None:
            raise ValueError(f'unknown protocol "{base}"')
        v4 = v6 = False
        # FreeBSD strips trailing digits one by one: each 4 or 6 adds that family.
        for digit in m.group(2):
            if digit == "4":
                v4 = True
            elif digit == "6":
                v6 = True
            else:
                raise ValueError(f'bad IP version "{base}"')
        family = Family.DUAL if v4 and v6 else Family.INET6 if v6 else Family.INET
        if m.group(1) == "tcp":
            protocol = Protocol.RPC_TCP if rpc else Protocol.TCP
        else:
            protocol = Protocol.RPC_UDP if rpc else Protocol.UDP
        spec = ProtocolSpec(base, protocol, family)
    if len(options) > 2:
        raise ValueError("too many buffer sizes")
    sizes: dict[str, int] = {}
    for option in options:
        om = _BUFFER_OPTION.fullmatch(option)
        if om is None:
            raise ValueError(f'malformed buffer size option "{option}"')
        kind = om.group(1)
        if kind in sizes:
            raise ValueError(f'buffer size "{kind}" given twice')
        size = int(om.group(2)) * _BUFFER_UNITS[om.group(3)]
        if not 1 <= size <= _INT_MAX:
            raise ValueError(f'invalid buffer size "{option}"')
        sizes[kind] = size
    return ProtocolSpec(
        spec.proto_name, spec.protocol, spec.family, sizes.get("sndbuf"), sizes.get("rcvbuf")
    )


def _number(text: str, limit: int) -> int | None:
    if _DIGITS.fullmatch(text) is None:
        return None
    value = int(text)
    return value if value <= limit else None


_SLASH_LIMITS = (
    ("max-child", MAX_CHILD),
    ("max-connections-per-ip-per-minute", _INT_MAX),
    ("max-child-per-ip", _INT_MAX),
)


def _parse_wait(word: str) -> tuple[bool, Limits]:
    """Field 4: FreeBSD `/max-child/cpm/per-ip` and the `.N` / NetBSD `:N` rate.

    Both may be combined (`nowait/10.400`), a pyinetd extension so every Limits renders.
    """
    if word.startswith("wait"):
        wait, rest = True, word[4:]
    elif word.startswith("nowait"):
        wait, rest = False, word[6:]
    else:
        raise _EntryError(f'bad wait/nowait "{word}"')
    rate_text: str | None = None
    for i, c in enumerate(rest):
        if c in ".:":
            rest, rate_text = rest[:i], rest[i + 1 :]
            break
    numbers: list[int] = []
    if rest:
        parts = rest.split("/")
        # FreeBSD matches "wait" as a prefix (waitress = wait); pyinetd wants the word.
        if parts[0] != "" or len(parts) > 4:
            raise _EntryError(f'bad wait/nowait "{word}"')
        for (name, limit), text in zip(_SLASH_LIMITS, parts[1:], strict=False):
            value = _number(text, limit)
            if value is None:
                raise _EntryError(f'bad {name} "{text}"')
            numbers.append(value)
    rate: int | None = None
    if rate_text is not None:
        rate = _number(rate_text, _INT_MAX)
        if rate is None:
            raise _EntryError(f'bad invocations per minute "{rate_text}"')
    padded = [*numbers, None, None, None]
    return wait, Limits(padded[0], padded[1], padded[2], rate)


def _parse_user(word: str, resolver: Resolver) -> tuple[str, str | None, str | None]:
    """Field 5: `user[:group][/class]`, or OpenBSD/netkit `user.group` when no `:`."""
    login_class: str | None = None
    rest = word
    if "/" in rest:
        rest, login_class = rest.rsplit("/", 1)
        if login_class == "":
            raise _EntryError(f'empty login class in "{word}"')
    group: str | None = None
    if ":" in rest:
        user, group = rest.split(":", 1)
    elif "." in rest and resolver.primary_group(rest) is None:
        # Only when the dotted word is not itself a user, so `first.last` still works.
        user, group = rest.split(".", 1)
    else:
        user = rest
    if user == "":
        raise _EntryError(f'no user in "{word}"')
    if resolver.primary_group(user) is None:
        raise _EntryError(f'no such user "{user}"')
    if group is not None and not resolver.group_exists(group):
        raise _EntryError(f'no such group "{group}"')
    return user, group, login_class


def split_host(spec: str) -> tuple[str | None, str]:
    """Split `host:service` at the last `:` outside brackets; (None, spec) without one."""
    depth = 0
    cut = -1
    for i, c in enumerate(spec):
        if c == "[":
            depth += 1
        elif c == "]":
            depth = max(0, depth - 1)
        elif c == ":" and depth == 0:
            cut = i
    if cut < 0:
        return None, spec
    return spec[:cut], spec[cut + 1 :]


# A host item: ("any", "*"), ("v4", addr), ("v6", addr) or ("name", name).
_HostItem = tuple[str, str]


def parse_hosts(text: str) -> list[_HostItem]:
    """The host part of `host:service` or of a lone `host:` line; ValueError when bad."""
    if text in ("", WILDCARD):
        return [("any", WILDCARD)]
    items: list[_HostItem] = []
    for item in text.split(","):
        if item == "":
            raise ValueError(f'empty host in "{text}"')
        if item == WILDCARD:
            items.append(("any", WILDCARD))
            continue
        literal = item[1:-1] if item.startswith("[") and item.endswith("]") else None
        if literal is not None or ":" in item:
            # Bracketed (OpenBSD) or bare (GNU: `::1:echo`) IPv6 literal.
            try:
                items.append(("v6", str(ipaddress.IPv6Address(literal or item))))
            except ValueError:
                raise ValueError(f'bad IPv6 address "{item}"') from None
            continue
        try:
            items.append(("v4", str(ipaddress.IPv4Address(item))))
        except ValueError:
            items.append(("name", item))
    return items


def _resolve_hosts(
    items: list[_HostItem], spec: ProtocolSpec, resolver: Resolver
) -> list[tuple[str, str | None]]:
    """(address, None) per address to listen on, or (item, error) per item that failed."""
    out: dict[str, str | None] = {}
    errors: list[tuple[str, str | None]] = []
    v6_family = spec.family in (Family.INET6, Family.DUAL)
    for kind, value in items:
        if kind == "any":
            out.setdefault(WILDCARD, None)
        elif (kind == "v4" and v6_family) or (kind == "v6" and not v6_family):
            errors.append((value, f"address {value} does not fit protocol {spec.proto_name}"))
        elif kind in ("v4", "v6"):
            out.setdefault(value, None)
        else:
            try:
                found = resolver.addresses(value, spec.family)
            except LookupError as exc:
                errors.append((value, f'host "{value}": {exc.args[0] if exc.args else exc}'))
                continue
            for address in found:
                try:
                    address = str(ipaddress.ip_address(address))
                except ValueError:
                    pass
                out.setdefault(address, None)
    return [(a, None) for a in out] + errors


def _byte_length(text: str) -> int:
    try:
        return len(os.fsencode(text))
    except UnicodeError:
        return len(text.encode("utf-8", "surrogatepass"))


def _parse_unix(spec: str, resolver: Resolver) -> ListenAddress:
    """FreeBSD's `[:user:group:mode:]/path` UNIX socket field."""
    owner = group = None
    mode: int | None = None
    path = spec
    if spec.startswith(":"):
        owner, sep, rest = spec[1:].partition(":")
        if not sep:
            raise _EntryError(f'no group after user "{owner}"')
        group, sep, rest = rest.partition(":")
        if not sep:
            raise _EntryError(f'no mode after group "{group}"')
        mode_text, sep, path = rest.partition(":")
        if not sep:
            raise _EntryError(f'no path after mode "{mode_text}"')
        if re.fullmatch(r"[0-7]+", mode_text) is None or int(mode_text, 8) > 0o7777:
            raise _EntryError(f'bad mode "{mode_text}"')
        mode = int(mode_text, 8)
        if resolver.primary_group(owner) is None:
            raise _EntryError(f'no such user "{owner}"')
        if not resolver.group_exists(group):
            raise _EntryError(f'no such group "{group}"')
    if not path.startswith("/"):
        raise _EntryError(f'UNIX socket path "{path}" is not absolute')
    if "\0" in path:
        raise _EntryError("UNIX socket path contains a NUL byte")
    size = _byte_length(path)
    if size > UNIX_PATH_MAX:
        raise _EntryError(f"UNIX socket path too long ({size} bytes, at most {UNIX_PATH_MAX})")
    return ListenAddress(Family.UNIX, path=path, owner=owner, group=group, mode=mode)


def _parse_rpc(spec: str) -> Rpc:
    name, slash, versions = spec.partition("/")
    if name == "":
        raise _EntryError("no RPC program name")
    if not slash:
        # FreeBSD: a missing version means version 1 (OpenBSD refuses the line).
        return Rpc(name, 1, 1)
    m = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", versions)
    if m is None:
        raise _EntryError(f'bad RPC version "{versions}"')
    low = int(m.group(1))
    high = int(m.group(2)) if m.group(2) is not None else low
    if low > high or high > _RPC_VERSION_MAX:
        raise _EntryError(f'bad RPC version "{versions}"')
    return Rpc(name, low, high)


_SOCKET_TYPES = {t.value: t for t in SocketType}
_STREAM_BUILTIN_ONLY = frozenset({"tcpmux"})
_TCP_PROTOCOLS = (Protocol.TCP, Protocol.RPC_TCP)
_UDP_PROTOCOLS = (Protocol.UDP, Protocol.RPC_UDP)


# ---------------------------------------------------------------------------- parser


@dataclass
class _Default:
    """The default host set by a lone `host:` line; `bad_line` when that line was bad."""

    items: list[_HostItem]
    bad_line: int | None = None


class _Parser:
    def __init__(self, file: str, resolver: Resolver) -> None:
        self.file = file
        self.resolver = resolver
        self.services: list[Service] = []
        self.errors: list[ConfigError] = []
        self.notes: list[ConfigNote] = []
        self.default = _Default([("any", WILDCARD)])

    def run(self, text: str) -> Config:
        entries, notes = _logical_lines(text, self.file)
        self.notes.extend(notes)
        for entry in entries:
            self.entry(entry)
        kept, duplicates = check_duplicates(self.services)
        self.errors.extend(duplicates)
        return Config(
            services=tuple(kept),
            errors=tuple(sorted(self.errors, key=lambda e: e.origin.line)),
            notes=tuple(sorted(self.notes, key=lambda e: e.origin.line)),
            files=(self.file,),
        )

    def entry(self, entry: _Logical) -> None:
        origin = Origin(self.file, entry.line)
        words = entry.words
        if entry.error is not None:
            self.errors.append(ConfigError(origin, _guess_label(words), entry.error))
            return
        first = words[0]
        # `:news:daemon:220:/path` (FreeBSD UNIX prefix) and paths are not hosts.
        is_hostish = first == ":" or (first.endswith(":") and not first.startswith(("/", ":")))
        if is_hostish and len(words) == 1:
            self.host_line(origin, first[:-1])
            return
        if is_hostish:
            # OpenBSD reads `127.0.0.1: ftp stream ...` as `127.0.0.1:ftp stream ...`.
            words = [first + words[1], *words[2:]]
        if len(words) < _MIN_FIELDS:
            self.errors.append(ConfigError(origin, None, "not enough fields"))
            return
        try:
            self.fields(origin, words)
        except _EntryError as exc:
            self.errors.append(ConfigError(origin, _guess_label(words), exc.message))

    def host_line(self, origin: Origin, text: str) -> None:
        try:
            self.default = _Default(parse_hosts(text))
        except ValueError as exc:
            self.default = _Default([], bad_line=origin.line)
            self.errors.append(ConfigError(origin, None, str(exc)))

    def fields(self, origin: Origin, words: list[str]) -> None:
        spec_word, type_word, proto_word, wait_word, user_word, server = words[:6]
        args = tuple(words[6:])
        try:
            proto = parse_protocol(proto_word)
        except ValueError as exc:
            raise _EntryError(str(exc)) from None

        host_text: str | None = None
        listen: ListenAddress | None = None
        rpc: Rpc | None = None
        mux: Tcpmux | None = None
        port: int | None = None
        official: str | None = None
        if proto.family is Family.UNIX:
            listen = _parse_unix(spec_word, self.resolver)
            assert listen.path is not None
            written = listen.path
        else:
            host_text, written = split_host(spec_word)
            if proto.protocol in _TCP_PROTOCOLS + _UDP_PROTOCOLS and written.startswith("tcpmux/"):
                mux = self.tcpmux(written, type_word, proto)
            elif proto.protocol in (Protocol.RPC_TCP, Protocol.RPC_UDP):
                rpc = _parse_rpc(written)
                # Ports of RPC services are the kernel's choice; the portmapper publishes them.
                listen = ListenAddress(proto.family, WILDCARD, 0)
            else:
                port, official = self.port(written, proto)
            if host_text is not None and (mux is not None or rpc is not None):
                kind = "a tcpmux/" if mux is not None else "an RPC"
                raise _EntryError(f"{kind} service cannot be bound to an address")

        socket_type = _SOCKET_TYPES.get(type_word)
        if socket_type is None:
            raise _EntryError(f'bad socket type "{type_word}"')
        if (socket_type is SocketType.STREAM and proto.protocol in _UDP_PROTOCOLS) or (
            socket_type is SocketType.DGRAM and proto.protocol in _TCP_PROTOCOLS
        ):
            raise _EntryError(
                f"socket type {socket_type.value} does not fit protocol {proto.proto_name}"
            )
        wait, limits = _parse_wait(wait_word)
        user, group, login_class = _parse_user(user_word, self.resolver)
        label = f"{written}/{proto.proto_name}"
        notes: list[ConfigNote] = []
        if login_class is not None:
            notes.append(
                ConfigNote(
                    origin,
                    label,
                    f'login class "{login_class}" ignored: login classes do not exist on Linux',
                )
            )

        program: Program | None = None
        builtin: Builtin | None = None
        if server == "internal":
            builtin = self.builtin(written, official, listen, socket_type, args)
            if wait and socket_type is SocketType.STREAM:
                notes.append(
                    ConfigNote(origin, label, 'builtin services run nowait: "wait" ignored')
                )
            wait = False
        else:
            program = self.program(server, args, origin, label, notes)
        if mux is not None:
            if wait:
                notes.append(
                    ConfigNote(origin, label, 'tcpmux services run nowait: "wait" ignored')
                )
            wait = False

        def make(address: ListenAddress | None) -> Service:
            return Service(
                origin=origin,
                service=written,
                listen=address,
                socket_type=socket_type,
                protocol=proto.protocol,
                proto_name=proto.proto_name,
                wait=wait,
                user=user,
                group=group,
                login_class=login_class,
                program=program,
                builtin=builtin,
                limits=limits,
                sndbuf=proto.sndbuf,
                rcvbuf=proto.rcvbuf,
                rpc=rpc,
                tcpmux=mux,
            )

        if port is None:
            self.services.append(make(listen))
            self.notes.extend(notes)
            return
        if host_text is not None:
            try:
                items = parse_hosts(host_text)
            except ValueError as exc:
                raise _EntryError(str(exc)) from None
        elif self.default.bad_line is not None:
            raise _EntryError(f"the default host set at line {self.default.bad_line} is bad")
        else:
            items = self.default.items
        made = 0
        for address, error in _resolve_hosts(items, proto, self.resolver):
            if error is not None:
                self.errors.append(ConfigError(origin, label, error))
                continue
            self.services.append(make(ListenAddress(proto.family, address, port)))
            made += 1
        if made:
            self.notes.extend(notes)

    def port(self, written: str, proto: ProtocolSpec) -> tuple[int, str | None]:
        if written == "":
            raise _EntryError("no service name")
        if _DIGITS.fullmatch(written) is not None:
            # Numeric ports are OpenBSD/GNU/netkit; FreeBSD only knows names.
            number = int(written)
            if number > 65535:
                raise _EntryError(f'bad port "{written}"')
            return number, None
        transport = "udp" if proto.protocol in _UDP_PROTOCOLS else "tcp"
        found = self.resolver.service(written, transport)
        if found is None:
            raise _EntryError("unknown service")
        return found

    def tcpmux(self, written: str, type_word: str, proto: ProtocolSpec) -> Tcpmux:
        name = written[len("tcpmux/") :]
        plus = name.startswith("+")
        if plus:
            name = name[1:]
        if type_word != "stream" or proto.protocol is not Protocol.TCP:
            raise _EntryError("bad protocol/socket type for tcpmux service")
        if name == "":
            raise _EntryError("no tcpmux service name")
        if name.lower() == "help":
            raise _EntryError('tcpmux name "help" is reserved')
        if proto.sndbuf is not None or proto.rcvbuf is not None:
            raise _EntryError("buffer sizes do not apply to tcpmux/ services")
        return Tcpmux(name, plus)

    def builtin(
        self,
        written: str,
        official: str | None,
        listen: ListenAddress | None,
        socket_type: SocketType,
        args: tuple[str, ...],
    ) -> Builtin:
        if listen is not None and listen.family is Family.UNIX:
            assert listen.path is not None
            name = listen.path.rsplit("/", 1)[-1]
        elif written not in BUILTIN_NAMES and official in BUILTIN_NAMES:
            # FreeBSD matches aliases from the services database (`source` = chargen).
            assert official is not None
            name = official
        else:
            name = written
        if name not in BUILTIN_NAMES and args and args[0] in BUILTIN_NAMES:
            # FreeBSD lets the arguments name the builtin (they are its argv, argv[0]
            # first); on a numeric port that is the only way to choose one.
            name = args[0]
        if name not in BUILTIN_NAMES:
            raise _EntryError(f"internal service {name} unknown")
        if socket_type not in (SocketType.STREAM, SocketType.DGRAM) or (
            socket_type is SocketType.DGRAM and name in _STREAM_BUILTIN_ONLY
        ):
            raise _EntryError(
                f"internal service {name} cannot serve socket type {socket_type.value}"
            )
        return Builtin(name, args)

    def program(
        self,
        path: str,
        args: tuple[str, ...],
        origin: Origin,
        label: str,
        notes: list[ConfigNote],
    ) -> Program:
        if not path.startswith("/"):
            raise _EntryError(f'program "{path}" is not an absolute path')
        problem = self.resolver.program_problem(path)
        if problem is not None:
            raise _EntryError(f"program {path}: {problem}")
        if args:
            return Program(path, args)
        argv0 = path.rsplit("/", 1)[-1]
        notes.append(
            ConfigNote(
                origin,
                label,
                f'no arguments: argv[0] set to "{argv0}" (FreeBSD would pass an empty argv)',
            )
        )
        return Program(path, (argv0,))


def _guess_label(words: list[str]) -> str | None:
    """The label of an entry that failed before it had one: `service/proto` as written."""
    if len(words) < 3:
        return None
    proto_name = words[2].split(",")[0]
    spec = words[0]
    if proto_name == "unix":
        if spec.startswith(":"):
            spec = spec.split(":", 4)[-1]
    else:
        spec = split_host(spec)[1]
    return f"{spec}/{proto_name}"


# ------------------------------------------------------------------------ duplicates


def _clash(service: Service) -> tuple[tuple[object, ...], str] | None:
    if service.tcpmux is not None:
        return ("tcpmux", service.tcpmux.name.lower()), "tcpmux name"
    endpoint = service.endpoint
    if endpoint is None:
        return None
    if service.listen is not None and service.listen.family is Family.UNIX:
        return endpoint, "socket path"
    if service.listen is not None and service.listen.port == 0:
        # Port 0: each socket gets its own port from the kernel, so nothing can clash.
        return None
    return endpoint, "address, port and protocol"


def check_duplicates(services: Iterable[Service]) -> tuple[list[Service], list[ConfigError]]:
    """Keep the first entry of each endpoint; later ones become errors naming the first.

    netkit's reading (first wins) rather than the BSDs' silent "later line wins": a
    duplicate is almost always a mistake and should be visible, not quietly applied.
    """
    seen: dict[tuple[object, ...], Service] = {}
    kept: list[Service] = []
    errors: list[ConfigError] = []
    for service in services:
        clash = _clash(service)
        if clash is None:
            kept.append(service)
            continue
        key, what = clash
        first = seen.get(key)
        if first is None:
            seen[key] = service
            kept.append(service)
        else:
            errors.append(
                ConfigError(
                    service.origin,
                    service.label,
                    f"same {what} as {first.label} at {first.origin}",
                )
            )
    return kept, errors


def parse(text: str, file: str, resolver: Resolver) -> Config:
    """Parse the text of one inetd.conf file. Never raises: problems are in `.errors`."""
    return _Parser(file, resolver).run(text)
