"""``python -m deploy_check``."""

import sys

from deploy_check.cli import main

sys.exit(main())
