"""The ``meterkit`` command line: thin shells over library calls."""
