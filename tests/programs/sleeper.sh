#!/bin/sh
# Child program for tests: says hello, then waits for the client to hang up (or 20 s).
echo "hello $$"
exec timeout 20 cat >/dev/null
