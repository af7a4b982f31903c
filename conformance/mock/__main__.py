"""``python -m conformance.mock``: run the mock DCS server standalone."""

import sys

from conformance.mock._cli import main

sys.exit(main())
