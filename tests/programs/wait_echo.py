#!/usr/bin/env python3
"""Child program for tests: a wait-mode stream server. Accepts one connection on the
listening socket it was given on fd 0, echoes it until EOF, then exits."""

import socket

listener = socket.socket(fileno=0)
conn, _ = listener.accept()
while data := conn.recv(65536):
    conn.sendall(data)
conn.close()
