"""The ledger core: the fact store, appending, replay and the plugin host.

``ledger.open(url)`` is the door for notebooks and scripts (``ledger.notebook``). It is
imported only when called, so that importing any part of the core stays light.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger.notebook import Notebook

__all__ = ["open"]

LOADING_BEGAN_NS = time.time_ns()
"""When this process began loading the core: a source changed after it may not be the code running
(``ledger.answers`` then keeps no answer, and uses none)."""


def open(url: str | None = None, plugins: Iterable[str] = ()) -> Notebook:
    """Open the ledger at ``url`` (default ``DEALLEDGER_URL``, else ``sqlite:///dealledger.db``) for questions in Python.

    >>> import ledger
    >>> with ledger.open("sqlite:///dealledger.db") as book:  # doctest: +SKIP
    ...     book.view("ownership", company="moonshot-ai", as_of="2024-03-01").to_pandas()
    """
    from ledger.notebook import Notebook

    return Notebook(url, plugins)
