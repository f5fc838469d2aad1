"""``python -m evalkit``: the same command line as ``evalkit``."""

from evalkit.cli import main

main()
