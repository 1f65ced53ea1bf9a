"""The ``clearcutout`` command: cut out images, manage models, run the service.

- :mod:`.app`: the command itself, its global flags and the entry point :func:`main`;
- :mod:`.console`: its output, and the one way it reports an error (one line, no
  traceback unless ``--debug``);
- :mod:`.cutout`: ``remove`` (a flag per cutout option) and ``demo``;
- :mod:`.models`: ``models list`` and ``models pull``;
- :mod:`.operator`: the web service's operator commands (``serve``, ``db``, ``users``,
  ``apikeys``, ``policy``, ``mail``, ``retention``, ``storage``).
"""

from clearcutout.cli.app import app, main

__all__ = ["app", "main"]
