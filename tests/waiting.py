"""`wait_for` for the test kits that import it from here (tests/emulator/emukit.py).

The one implementation is `devkit.waits.wait_for`.
"""

from devkit.waits import wait_for

__all__ = ["wait_for"]
