"""The catalogue: every kind of fact the ledger accepts, by its ``kind`` name.

Built-in kinds are listed here; plugins add theirs through the ledger's plugin manager.
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Mapping
from typing import Any

from events.base import Fact
from events.cloud import CreditsConsumed, CreditsGranted, EscrowDeposited, EscrowReleased, SpendCommitted
from events.corrections import FactCorrected, FactRetracted
from events.decimals import exact_decimals
from events.errors import FactError, did_you_mean
from events.funding import OwnershipAsserted, RoundClosed, StakeAcquired, StakeDivested, ValuationMarked
from events.layout import load_record
from events.markets import FxRate
from events.parties import PartyRegistered
from events.regulation import DivestmentOrdered, ExportBanImposed, ExportBanLifted, PenaltyImposed

BUILT_IN_KINDS: tuple[type[Fact], ...] = (
    PartyRegistered,
    FxRate,
    RoundClosed,
    StakeAcquired,
    OwnershipAsserted,
    StakeDivested,
    ValuationMarked,
    CreditsGranted,
    CreditsConsumed,
    EscrowDeposited,
    EscrowReleased,
    SpendCommitted,
    ExportBanImposed,
    ExportBanLifted,
    PenaltyImposed,
    DivestmentOrdered,
    FactCorrected,
    FactRetracted,
)


class Catalogue:
    """Kinds by name; parses interchange mappings into typed, validated facts."""

    def __init__(self, kinds: Iterable[type[Fact]] = BUILT_IN_KINDS) -> None:
        self.kinds: dict[str, type[Fact]] = {}
        for kind in kinds:
            self.add(kind)

    def add(self, kind: type[Fact]) -> None:
        if not (isinstance(kind, type) and issubclass(kind, Fact)) or not kind.kind:
            raise TypeError(f"{kind!r} is not a Fact subclass with a kind name")
        existing = self.kinds.get(kind.kind)
        if existing is not None and existing is not kind:
            raise ValueError(f"kind {kind.kind!r} is already provided by {existing.__module__}.{existing.__qualname__}")
        self.kinds[kind.kind] = kind

    def parse(self, data: Mapping[str, Any]) -> Fact:
        """A typed fact from its interchange mapping; ``FactError`` names the offending field."""
        name = data.get("kind")
        if name is None or name == "":
            raise FactError("missing required field", "kind")
        kind = self.kinds.get(name) if isinstance(name, str) else None
        if kind is None:
            # !a: a look-alike letter (Cyrillic e in valuation.marked) shows as its code, not as the letter it mimics
            raise FactError(f"unknown kind {name!a}{did_you_mean(str(name), self.kinds)}", "kind")
        try:
            with exact_decimals():  # a fact's own checks add amounts up: exactly, whatever context the caller left
                return kind.from_dict(data, self)
        except FactError:
            raise
        except (decimal.Inexact, decimal.Rounded):
            raise FactError("its amounts cannot be added up exactly (more than 400 digits)") from None
        except Exception as error:  # a kind's own ``check`` (a plugin's) that refuses with another exception
            raise FactError(f"{name}: the kind's check failed: {type(error).__name__}: {error}") from None

    def load(self, data: Mapping[str, Any]) -> Fact:
        """A fact from its stored interchange form, trusted (``layout.load_record``); unknown kinds still fail."""
        name = data.get("kind")
        kind = self.kinds.get(name) if isinstance(name, str) else None
        if kind is None:
            raise FactError(f"unknown kind {data.get('kind')!r}", "kind")
        return load_record(kind, data, self)

    def json_schema(self) -> dict[str, Any]:
        """A JSON Schema (draft 2020-12) of one fact in its interchange form."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://dealledger.invalid/schema/fact.json",
            "title": "dealledger fact",
            "description": "One fact per JSON Lines line; money is a decimal string plus an ISO 4217 currency.",
            "oneOf": [kind.json_schema() for kind in self.kinds.values()],
        }
