"""Typed errors raised by library code; only the CLI turns them into messages and exits."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyinetd.model import Origin


class PyinetdError(Exception):
    """Base of every error pyinetd raises on purpose."""


class ConfigError(PyinetdError):
    """One problem in one configuration entry, printed as `path:line: label: message`.

    `label` is the service label (`echo/tcp`) when the entry got far enough to have one,
    otherwise None and the message stands alone after the position.
    """

    def __init__(self, origin: Origin, label: str | None, message: str) -> None:
        self.origin = origin
        self.label = label
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.origin.file}:{self.origin.line}"
        if self.label:
            return f"{head}: {self.label}: {self.message}"
        return f"{head}: {self.message}"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ConfigError)
            and type(other) is type(self)
            and (self.origin, self.label, self.message)
            == (other.origin, other.label, other.message)
        )

    def __hash__(self) -> int:
        return hash((type(self), self.origin, self.label, self.message))


class ConfigNote(ConfigError):
    """A remark on an entry that is still loaded (a dialect reading, an ignored feature).

    Formatted like an error; `--check` prints notes but they do not make it fail.
    """


class BindError(PyinetdError):
    """A listener could not be created; the message names the service and the OS error."""


class SpawnError(PyinetdError):
    """A program could not be started for a connection."""
