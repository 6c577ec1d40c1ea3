"""``python -m headstart``: the ``headstart`` command."""

import sys

from .cli import main

sys.exit(main())
