"""The ``dicomkit`` command-line tool: one module per command group."""
