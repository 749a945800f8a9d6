"""The rows of ``dealledger log``: stored facts with their ids, recorded and known times, and fate.

A fact is *recorded* when its batch has been checked, just before it is written; it is *known*
from the moment its batch is committed, which is what ``--known-at`` goes by. For a small append
the two are milliseconds apart; for a large one, the time its batch took to write."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from events import Fact
from events.corrections import FactCorrected, FactRetracted
from ledger.records import Recorded
from ledger.timeline import FactIndex

COMMON = ("kind", "effective", "key", "source", "confidence", "note")


def named(records: Sequence[Recorded]) -> dict[str, Recorded]:
    """For each correction and retraction among the records (by id), the fact it names, read as ``resolve`` reads it:
    among the facts recorded before it."""
    index = FactIndex()
    found: dict[str, Recorded] = {}
    for record in records:
        fact = record.fact
        if isinstance(fact, (FactCorrected, FactRetracted)):
            target = index.find(fact.fact)
            if target is not None:
                found[record.id] = target
        else:
            index.add(record)
    return found


def fates(records: Sequence[Recorded], targets: dict[str, Recorded] | None = None) -> dict[str, str]:
    """For each fact id, ``corrected by ...`` or ``retracted by ...`` as far as these records tell."""
    targets = named(records) if targets is None else targets
    status: dict[str, str] = {}
    retracted: set[str] = set()
    for record in records:
        target = targets.get(record.id)
        if target is not None and target.id not in retracted:  # nothing changes a retracted fact again
            verb = "corrected" if isinstance(record.fact, FactCorrected) else "retracted"
            status[target.id] = f"{verb} by {record.id[:12]}"
            if isinstance(record.fact, FactRetracted):
                retracted.add(target.id)
    return status


def versions(records: Sequence[Recorded], targets: dict[str, Recorded]) -> dict[str, list[Fact]]:
    """Every version of each fact that corrections and retractions name, by the fact's id: the original, then each
    replacement, as these records tell."""
    found: dict[str, list[Fact]] = {}
    for record in records:
        target = targets.get(record.id)
        if target is not None:
            kept = found.setdefault(target.id, [target.fact])
            if isinstance(record.fact, FactCorrected):
                kept.append(record.fact.replacement)
    return found


def of_kind(fact: Fact, kind: str) -> bool:
    """Whether ``fact`` is of ``kind`` or of the family ``kind`` names ('round' for round.closed)."""
    return fact.kind == kind or fact.kind.startswith(f"{kind}.")


def log_rows(
    records: Sequence[Recorded],
    *,
    kind: str | None = None,
    party: str | None = None,
    as_of: date | None = None,
    detailed: bool = False,
    known: Callable[[Recorded], datetime],
) -> list[dict[str, Any]]:
    """The log's rows, filtered. A correction or retraction is about the fact it names too, in every version of it:
    ``--party`` and ``--kind`` show it beside that fact (a retraction names no party, a correction may take one away
    or bring one in), so that a fact's history is read whole, as the views that read the fact see it. ``known``
    gives a fact's known time (``Store.known_times``)."""
    targets = named(records)
    status = fates(records, targets)
    history = versions(records, targets)
    rows = []
    for record in records:
        fact = record.fact
        target = targets.get(record.id)
        about = [fact, *history[target.id]] if target is not None else [fact]
        if kind and not any(of_kind(version, kind) for version in about):
            continue
        if party and not any(party in version.parties() for version in about):
            continue
        if as_of and fact.effective > as_of:
            continue
        interchange = fact.to_dict()
        row: dict[str, Any] = {
            "seq": record.seq,
            "id": record.id if detailed else record.id[:12],
            "key": fact.key,
            "kind": fact.kind,
            "effective": fact.effective,
            "recorded": record.recorded,
            "known": known(record),
            "status": status.get(record.id, ""),
        }
        if detailed:
            row.update({k: v for k, v in interchange.items() if k not in ("kind", "effective", "key")})
        else:
            row["fields"] = " ".join(f"{k}={_short(v)}" for k, v in interchange.items() if k not in COMMON)
        rows.append(row)
    return rows


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(_short(v) for v in value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={_short(v)}" for k, v in value.items()) + "}"
    return str(value)
