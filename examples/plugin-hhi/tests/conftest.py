"""Make the plugin importable from its source folder for the unit tests (the install test installs it for real)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
