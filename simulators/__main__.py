"""python -m simulators: the simulate command on its own."""

from simulators.cli import main

main()
