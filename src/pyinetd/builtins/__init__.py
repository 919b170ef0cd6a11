"""In-process small services: echo, discard, chargen, daytime, time, and TCPMUX name reading.

The supervisor calls these instead of forking: `serve_stream` for an accepted stream
connection, `DatagramBuiltins.reply` for a datagram (after `is_loop_source` said it may be
answered), `read_tcpmux_name` and the TCPMUX replies for `tcpmux` connections. This package
must not accept connections, apply access rules or limits, or log per connection.
"""

from __future__ import annotations

from pyinetd.builtins.formats import (
    CHARGEN_LINE_LEN,
    CHARGEN_LINES,
    DGRAM_BUILTINS,
    RFC868_OFFSET,
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
from pyinetd.builtins.stream import answer_now, serve_stream
from pyinetd.builtins.tcpmux import TCPMUX_MAX_NAME, TCPMUX_TIMEOUT, read_tcpmux_name

__all__ = [
    "answer_now",
    "CHARGEN_LINES",
    "CHARGEN_LINE_LEN",
    "DGRAM_BUILTINS",
    "RFC868_OFFSET",
    "STREAM_BUILTINS",
    "TCPMUX_GO",
    "TCPMUX_MAX_NAME",
    "TCPMUX_TIMEOUT",
    "TCPMUX_UNAVAILABLE",
    "DatagramBuiltins",
    "chargen_line",
    "daytime_bytes",
    "is_loop_source",
    "read_tcpmux_name",
    "serve_stream",
    "tcpmux_help",
    "time_bytes",
]
