"""``python -m uhd_telephony``: the same as the ``uhd-telephony`` command."""

import sys

from uhd_telephony.app.cli import main

sys.exit(main())
