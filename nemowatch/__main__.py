"""`python -m nemowatch` runs the command line."""

import sys

from nemowatch.cli import main

sys.exit(main())
