"""``python -m kafkascope.config``: print the configuration reference (docs/config-reference.md)."""

import sys

from kafkascope.config import render_reference

sys.stdout.write(render_reference())
