"""``python -m headstart.cli``: what torchrun, srun and ``--devices`` start on each rank."""

import sys

from . import main

sys.exit(main())
