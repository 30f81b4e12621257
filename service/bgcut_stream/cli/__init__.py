"""The ``bgcut-stream`` command line: one module per subcommand group."""
