"""The process title (`ps`): services and children, so an operator sees the state at a glance."""

from __future__ import annotations

from setproctitle import setproctitle


def show(services: int, children: int, config: str) -> None:
    setproctitle(f"pyinetd: {services} services, {children} children [{config}]")
