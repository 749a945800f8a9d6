"""A plugin whose validation never finishes (loaded by module path in tests/test_crash_safety.py)."""

from __future__ import annotations

import time
from typing import Any

from ledger.plugin import hookimpl


@hookimpl
def dealledger_validate(new: Any) -> list[Any]:
    if any(record.fact.key == "hang" for record in new):
        while True:
            time.sleep(1)
    return []
