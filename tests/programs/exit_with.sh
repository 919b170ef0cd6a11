#!/bin/sh
# Child program for tests: prints a line, then exits with the status given as $1.
echo "bye"
exit "${1:-0}"
