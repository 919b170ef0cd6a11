#!/bin/sh
# Child program for tests: says "hello PID", then echoes the client's lines until it hangs up.
echo "hello $$"
exec cat
