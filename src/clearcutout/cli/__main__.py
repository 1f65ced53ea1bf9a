"""``python -m clearcutout.cli``: the same as the ``clearcutout`` command."""

from clearcutout.cli.app import main

main()
