"""The event catalogue: typed, frozen facts and their interchange form. Knows nothing of storage."""

from __future__ import annotations

from events.base import Fact, fact_class
from events.catalogue import BUILT_IN_KINDS, Catalogue
from events.errors import FactError

__all__ = ["BUILT_IN_KINDS", "Catalogue", "Fact", "FactError", "fact_class"]
