#!/usr/bin/env python3
"""Child program for tests: reports on fd 1 what it was given, as one JSON line.

Run by pyinetd with the socket on 0, 1, 2. For a wait-mode stream service it accepts one
connection on fd 0 first and answers there.
"""

import fcntl
import json
import os
import socket
import sys


def fd_list() -> list[int]:
    fds = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("/proc/"):
                continue  # the directory listdir itself opened
        except OSError:
            continue  # closed again already
        fds.append(fd)
    return sorted(fds)


def main() -> None:
    fds = fd_list()
    s0 = socket.socket(fileno=os.dup(0))
    listening = bool(s0.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    nonblocking = bool(fcntl.fcntl(0, fcntl.F_GETFL) & os.O_NONBLOCK)
    same = len({os.fstat(fd).st_ino for fd in (0, 1, 2)}) == 1
    out = s0
    if listening:
        out, _ = s0.accept()
    elif s0.type == socket.SOCK_DGRAM:
        data, peer = s0.recvfrom(65536)
    report = {
        "pid": os.getpid(),
        "sid": os.getsid(0),
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "gid": os.getgid(),
        "egid": os.getegid(),
        "groups": sorted(os.getgroups()),
        "fds": fds,
        "same_socket_012": same,
        "listening": listening,
        "nonblocking": nonblocking,
        "argv": sys.argv,
        "env": dict(os.environ),
    }
    line = (json.dumps(report) + "\n").encode()
    if s0.type == socket.SOCK_DGRAM:
        s0.sendto(line, peer)
    else:
        out.sendall(line)
        out.shutdown(socket.SHUT_WR)


main()
