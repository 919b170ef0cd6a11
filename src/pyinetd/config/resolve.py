"""Name lookups the inetd.conf parser needs, behind one small Protocol.

Owns: the `Resolver` Protocol (services database, users, groups, program files, host
names), `SystemResolver` (the real machine) and `StaticResolver` (answers from tables, so
tests and tools do not depend on this machine's /etc/services or users).
Must not: parse configuration text, build services, or raise anything from a lookup but
`LookupError` from `addresses` -- the parser relies on that to never raise.
"""

from __future__ import annotations

import grp
import os
import pwd
import socket
import stat
from collections.abc import Iterable, Mapping
from typing import Protocol

from pyinetd.model import Family

__all__ = ["Resolver", "StaticResolver", "SystemResolver", "ServiceEntry"]

# (port, official name): the official name lets FreeBSD-style aliases (`source` for
# chargen) select the right builtin.
ServiceEntry = tuple[int, str]


class Resolver(Protocol):
    """What the parser asks the system. Every method answers; none raises, except
    `addresses`, which raises `LookupError(reason)` when a name does not resolve."""

    def service(self, name: str, proto: str) -> ServiceEntry | None:
        """Port and official name of service `name` for `proto` ("tcp" or "udp")."""
        ...

    def primary_group(self, user: str) -> str | None:
        """The user's primary group name (or numeric gid); None when there is no such user."""
        ...

    def group_exists(self, group: str) -> bool: ...

    def program_problem(self, path: str) -> str | None:
        """None when `path` is an executable regular file, else why it cannot be run."""
        ...

    def addresses(self, host: str, family: Family) -> tuple[str, ...]:
        """Numeric addresses of host name `host` in `family` (DUAL means IPv6)."""
        ...


def _af(family: Family) -> socket.AddressFamily:
    return socket.AF_INET if family is Family.INET else socket.AF_INET6


class SystemResolver:
    """The machine's own databases: getservbyname, pwd, grp, stat/access, getaddrinfo.

    Text from a config file may hold NUL bytes or undecodable bytes (kept as surrogates);
    the C library calls reject those with ValueError, which here simply means "not found".
    """

    def service(self, name: str, proto: str) -> ServiceEntry | None:
        try:
            port = socket.getservbyname(name, proto)
            official = socket.getservbyport(port, proto)
        except (OSError, ValueError, OverflowError):
            return None
        return port, official

    def primary_group(self, user: str) -> str | None:
        try:
            gid = pwd.getpwnam(user).pw_gid
        except (KeyError, ValueError):
            return None
        try:
            return grp.getgrgid(gid).gr_name
        except (KeyError, ValueError):
            return str(gid)

    def group_exists(self, group: str) -> bool:
        try:
            grp.getgrnam(group)
        except (KeyError, ValueError):
            return False
        return True

    def program_problem(self, path: str) -> str | None:
        try:
            st = os.stat(path)
        except OSError as exc:
            return exc.strerror or str(exc)
        except ValueError as exc:
            return str(exc)
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        # os.access asks with the real uid: the question --check answers for the operator
        # who runs it; the daemon runs it as root, where any x bit suffices.
        if not os.access(path, os.X_OK):
            return "not executable"
        return None

    def addresses(self, host: str, family: Family) -> tuple[str, ...]:
        try:
            infos = socket.getaddrinfo(
                host, None, _af(family), socket.SOCK_STREAM, 0, socket.AI_PASSIVE
            )
        except socket.gaierror as exc:
            raise LookupError(exc.strerror or str(exc)) from None
        except (OSError, ValueError) as exc:
            raise LookupError(str(exc)) from None
        found: dict[str, None] = {}
        for info in infos:
            found[str(info[4][0])] = None
        if not found:
            raise LookupError("no address")
        return tuple(found)


class StaticResolver:
    """A Resolver that answers from tables instead of the machine.

    `services` maps (name, proto) to (port, official name); aliases are extra keys.
    `users` maps user to primary group. `programs` lists executable paths; any other path
    is reported missing. `hosts` maps (name, family) to addresses; DUAL lookups use the
    INET6 entry as SystemResolver does.
    """

    def __init__(
        self,
        services: Mapping[tuple[str, str], ServiceEntry],
        users: Mapping[str, str],
        groups: Iterable[str],
        programs: Iterable[str],
        hosts: Mapping[tuple[str, Family], Iterable[str]] | None = None,
    ) -> None:
        self._services = dict(services)
        self._users = dict(users)
        self._groups = frozenset(groups)
        self._programs = frozenset(programs)
        self._hosts = {k: tuple(v) for k, v in (hosts or {}).items()}

    def service(self, name: str, proto: str) -> ServiceEntry | None:
        return self._services.get((name, proto))

    def primary_group(self, user: str) -> str | None:
        return self._users.get(user)

    def group_exists(self, group: str) -> bool:
        return group in self._groups

    def program_problem(self, path: str) -> str | None:
        return None if path in self._programs else "No such file or directory"

    def addresses(self, host: str, family: Family) -> tuple[str, ...]:
        fam = Family.INET6 if family is Family.DUAL else family
        found = self._hosts.get((host, fam))
        if not found:
            raise LookupError("Name or service not known")
        return found
