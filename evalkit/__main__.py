"""``python -m evalkit``: the same entry point as the installed ``evalkit`` script."""

import sys

from evalkit.cli import main

sys.exit(main())
