"""`python -m nemowatch.emulator` runs the emulator's command line."""

import sys

from nemowatch.emulator.server import main

sys.exit(main())
