"""The ``agybatch`` command line: one module per group of commands."""
