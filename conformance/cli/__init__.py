"""The `clickstream-conformance` command: ``main`` (the parser and its subcommands),
``certify``, ``reproduce`` and ``setup``."""
