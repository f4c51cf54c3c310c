"""``python -m uqkit``: the same command line as ``uqkit``."""

import sys

from uqkit.cli import main

sys.exit(main())
