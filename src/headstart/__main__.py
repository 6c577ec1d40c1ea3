"""``python -m headstart``: the ``headstart`` command."""

from .cli import run

run()
