#!/usr/bin/env python3
"""Child program for tests: a wait-mode datagram server. Reads datagrams from fd 0 and
answers each with `pid:<pid> <data>`; exits after $1 datagrams or 0.5 s without one."""

import os
import socket
import sys

count = int(sys.argv[1]) if len(sys.argv) > 1 else 1
s = socket.socket(fileno=0)
s.settimeout(0.5)
for _ in range(count):
    try:
        data, peer = s.recvfrom(65536)
    except TimeoutError:
        break
    s.sendto(b"pid:%d " % os.getpid() + data, peer)
