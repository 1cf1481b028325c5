"""`python -m symgrad ...` runs the `symgrad` command line (see symgrad/cli.py)."""

import sys

from .cli import main

sys.exit(main())
