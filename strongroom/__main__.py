"""``python -m strongroom``: the command line."""

from strongroom.cli import main

main()
