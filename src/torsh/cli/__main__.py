"""``python -m torsh.cli ...`` (same as the ``torsh`` console script)."""

import sys

from . import main

sys.exit(main())
