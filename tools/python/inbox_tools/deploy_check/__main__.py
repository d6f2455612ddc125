"""``python -m inbox_tools.deploy_check``."""

import sys

from inbox_tools.deploy_check.cli import main

sys.exit(main())
