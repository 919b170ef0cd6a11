#!/usr/bin/env python3
"""Child program for tests: reports the socket options of fd 0 as one JSON line.

For a wait-mode stream service it accepts one connection and answers there; for a
datagram service it answers the queued datagram's sender; otherwise it answers on fd 1.
"""

import json
import os
import socket

s0 = socket.socket(fileno=os.dup(0))
report = {
    "family": int(s0.family),
    "sndbuf": s0.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
    "rcvbuf": s0.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
    "listening": bool(s0.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)),
}
if s0.family == socket.AF_INET6:
    report["v6only"] = s0.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
line = (json.dumps(report) + "\n").encode()
if report["listening"]:
    conn, _ = s0.accept()
    conn.sendall(line)
    conn.shutdown(socket.SHUT_WR)
elif s0.type == socket.SOCK_DGRAM:
    _, peer = s0.recvfrom(65536)
    s0.sendto(line, peer)
else:
    s0.sendall(line)
    s0.shutdown(socket.SHUT_WR)
