"""Loading inetd.conf files and directories, and the views `--check` shows of the result.

Owns: `load` (files and directories -> one `Config`, cross-file duplicate check),
`service_to_dict` / `error_to_dict` (the `--check --json` objects) and `render` (a
normalised inetd.conf line for a service).
Must not: print, exit, or raise for a bad or unreadable file -- those are ConfigErrors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from pyinetd.config.inetd import check_duplicates, parse, parse_protocol
from pyinetd.config.resolve import Resolver, SystemResolver
from pyinetd.errors import ConfigError, ConfigNote
from pyinetd.model import WILDCARD, Config, Family, Origin, Service

__all__ = ["error_to_dict", "load", "render", "service_to_dict"]

# Package managers and editors leave these next to the real files in a config directory.
_SKIPPED_SUFFIXES = ("~", ".bak")
_SKIPPED_INFIXES = (".dpkg-", ".rpm")


def _skipped(name: str) -> bool:
    return (
        name.startswith(".")
        or name.endswith(_SKIPPED_SUFFIXES)
        or any(infix in name for infix in _SKIPPED_INFIXES)
    )


def _expand(path: str) -> tuple[list[str], list[ConfigError]]:
    if not os.path.isdir(path):
        return [path], []
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        return [], [ConfigError(Origin(path, 0), None, f"cannot read: {exc.strerror or exc}")]
    files = []
    for name in names:
        full = os.path.join(path, name)
        if not _skipped(name) and os.path.isfile(full):
            files.append(full)
    return files, []


def _read(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read()
    # surrogateescape keeps non-UTF-8 bytes intact for the OS calls made with them.
    return data.decode("utf-8", "surrogateescape")


def load(paths: Sequence[str], resolver: Resolver | None = None) -> Config:
    """Load every file (a directory: its regular files in name order) into one Config.

    Each file starts with the wildcard default host. An entry clashing with one from an
    earlier file is an error naming that entry, like a clash inside one file.
    """
    resolver = resolver or SystemResolver()
    services: list[Service] = []
    errors: list[ConfigError] = []
    notes: list[ConfigNote] = []
    files: list[str] = []
    for path in paths:
        expanded, problems = _expand(path)
        errors.extend(problems)
        for file in expanded:
            try:
                text = _read(file)
            except OSError as exc:
                errors.append(
                    ConfigError(Origin(file, 0), None, f"cannot read: {exc.strerror or exc}")
                )
                continue
            config = parse(text, file, resolver)
            files.append(file)
            services.extend(config.services)
            errors.extend(config.errors)
            notes.extend(config.notes)
    kept, clashes = check_duplicates(services)
    if clashes:
        rank = {file: i for i, file in enumerate(files)}
        errors = sorted(
            [*errors, *clashes],
            key=lambda e: (rank.get(e.origin.file, -1), e.origin.line),
        )
    return Config(tuple(kept), tuple(errors), tuple(notes), tuple(files))


# ----------------------------------------------------------------------------- views


def _family(service: Service) -> Family:
    if service.listen is not None:
        return service.listen.family
    return parse_protocol(service.proto_name).family


def service_to_dict(s: Service) -> dict[str, object]:
    """The `--check --json` object of one service."""
    lst = s.listen
    return {
        "file": s.origin.file,
        "line": s.origin.line,
        "label": s.label,
        "service": s.service,
        "host": lst.host if lst is not None and lst.family is not Family.UNIX else None,
        "port": lst.port if lst is not None and lst.family is not Family.UNIX else None,
        "path": lst.path if lst is not None and lst.family is Family.UNIX else None,
        "family": _family(s).value,
        "socket_type": s.socket_type.value,
        "protocol": s.protocol.value,
        "wait": s.wait,
        "max_child": s.limits.max_child,
        "max_conn_per_ip_per_minute": s.limits.max_conn_per_ip_per_minute,
        "max_child_per_ip": s.limits.max_child_per_ip,
        "max_per_minute": s.limits.max_per_minute,
        "user": s.user,
        "group": s.group,
        "program": s.program.path if s.program is not None else "internal",
        "builtin": s.builtin.name if s.builtin is not None else None,
        "argv": list(
            s.program.argv if s.program is not None else s.builtin.args if s.builtin else ()
        ),
        "sndbuf": s.sndbuf,
        "rcvbuf": s.rcvbuf,
        "rpc": ({"name": s.rpc.name, "low": s.rpc.low, "high": s.rpc.high} if s.rpc else None),
        "tcpmux": {"name": s.tcpmux.name, "plus": s.tcpmux.plus} if s.tcpmux else None,
    }


def error_to_dict(e: ConfigError) -> dict[str, object]:
    """The `--check --json` object of one error (or note): position, label, message."""
    return {
        "file": e.origin.file,
        "line": e.origin.line,
        "label": e.label,
        "message": e.message,
    }


def _quote(word: str, first: bool = False) -> str:
    needs = (
        word == ""
        or any(c in " \t\r\n" for c in word)
        or word[0] in "\"'"
        or (first and word[0] == "#")
    )
    if not needs:
        return word
    for quote in "\"'":
        if quote not in word:
            return f"{quote}{word}{quote}"
    raise ValueError(f"cannot quote {word!r}: it holds both quote characters")


def _service_field(s: Service) -> str:
    lst = s.listen
    if lst is not None and lst.family is Family.UNIX:
        prefix = (lst.owner, lst.group, lst.mode)
        if prefix == (None, None, None):
            return s.service
        if None in prefix:
            raise ValueError("a UNIX socket owner, group and mode are written together")
        return f":{lst.owner}:{lst.group}:{lst.mode:o}:{s.service}"
    if lst is None or s.rpc is not None or lst.host in (None, WILDCARD):
        return s.service
    host = lst.host
    assert host is not None
    return f"[{host}]:{s.service}" if ":" in host else f"{host}:{s.service}"


def _wait_field(s: Service) -> str:
    word = "wait" if s.wait else "nowait"
    lim = s.limits
    slash = [lim.max_child, lim.max_conn_per_ip_per_minute, lim.max_child_per_ip]
    while slash and slash[-1] is None:
        slash.pop()
    if None in slash:
        raise ValueError("FreeBSD limits can only be left unset from the right")
    word += "".join(f"/{n}" for n in slash)
    if lim.max_per_minute is not None:
        word += f".{lim.max_per_minute}"
    return word


def render(s: Service) -> str:
    """A normalised inetd.conf line (no newline) that parses back to `s`, origin aside.

    Hosts are written out, `user.group` becomes `user:group`, words are quoted where
    needed. Raises ValueError for the few services no inetd.conf line can express
    (only possible for services not made by the inetd.conf parser).
    """
    proto = s.proto_name
    if s.sndbuf is not None:
        proto += f",sndbuf={s.sndbuf}"
    if s.rcvbuf is not None:
        proto += f",rcvbuf={s.rcvbuf}"
    user = s.user
    if s.group is not None:
        user += f":{s.group}"
    if s.login_class is not None:
        user += f"/{s.login_class}"
    if s.program is not None:
        if not s.program.argv:
            raise ValueError("an empty argv cannot be written in inetd.conf")
        server = [s.program.path, *s.program.argv]
    elif s.builtin is not None:
        server = ["internal", *s.builtin.args]
    else:
        raise ValueError("a service needs a program or a builtin")
    words = [_service_field(s), s.socket_type.value, proto, _wait_field(s), user, *server]
    return "\t".join(_quote(w, first=i == 0) for i, w in enumerate(words))
