"""``python -m meterkit``: the ``meterkit`` command (:mod:`meterkit.cli.entry`)."""

from .cli.entry import main

raise SystemExit(main())
