"""Allow ``python -m incontainer``."""

from incontainer.cli import main

main()
