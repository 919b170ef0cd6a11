"""The reload diff: which services keep their socket, which are added, which go.

Pure: compares two tuples of Service values by their reload identity (`Service.key`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pyinetd.model import Service


@dataclass(frozen=True)
class Plan:
    keep: tuple[tuple[Service, Service], ...]  # (old, new) with equal keys: socket kept
    add: tuple[Service, ...]
    remove: tuple[Service, ...]


def plan(old: Iterable[Service], new: Iterable[Service], *, remove_missing: bool = True) -> Plan:
    """Match services by key. A changed port or address is a different key, so it shows
    as one removal and one addition (a rebind). With `remove_missing` False (a new config
    that had errors), an old service is removed only where a new one takes its endpoint;
    otherwise a broken line leaves its old service running.
    """
    old_by_key = {s.key: s for s in old}
    keep: list[tuple[Service, Service]] = []
    add: list[Service] = []
    seen: set[tuple[object, ...]] = set()
    for s in new:
        prev = old_by_key.get(s.key)
        if prev is not None and s.key not in seen:
            keep.append((prev, s))
        else:
            add.append(s)
        seen.add(s.key)
    taken = {s.endpoint for s in add}
    remove = tuple(
        s
        for k, s in old_by_key.items()
        if k not in seen and (remove_missing or s.endpoint in taken)
    )
    return Plan(tuple(keep), tuple(add), remove)
