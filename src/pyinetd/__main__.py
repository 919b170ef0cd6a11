"""`python -m pyinetd`: the same entry point as the console script."""

from pyinetd.cli import run

run()
