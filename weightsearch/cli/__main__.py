"""`python -m weightsearch.cli`: the command line, as the `weightsearch` script runs it."""

import sys

from weightsearch.cli import main

sys.exit(main())
