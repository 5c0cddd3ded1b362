"""`python -m portal` is the `portal` command (the restore drill runs it this way)."""

from portal.cli import main

main(prog_name="portal")
