"""``python -m calls_async`` runs the ``calls-async`` command line."""

import sys

from calls_async.cli import main

sys.exit(main())
