"""Subcommands of `soulchat`, one module per stage.

Each module defines `register(commands)`, which adds its parsers to the `add_subparsers()` object
and sets `handler=` on each, and `ORDER` (position in `soulchat --help`). Heavy imports belong inside
the handlers so that `soulchat --help` stays fast. `soulchat.cli` finds the modules by itself.
"""
