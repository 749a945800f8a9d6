"""The rows of ``dealledger log``: stored facts with their ids, recorded times and fate."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

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


def log_rows(
    records: Sequence[Recorded],
    *,
    kind: str | None = None,
    party: str | None = None,
    as_of: date | None = None,
    detailed: bool = False,
) -> list[dict[str, Any]]:
    targets = named(records)
    status = fates(records, targets)
    rows = []
    for record in records:
        fact = record.fact
        if kind and not (fact.kind == kind or fact.kind.startswith(f"{kind}.")):
            continue
        if party and party not in fact.parties():
            target = targets.get(record.id)  # a correction or retraction is about the parties of the fact it names too
            if target is None or party not in target.fact.parties():
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
