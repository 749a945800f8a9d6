"""Turning incoming facts into a batch the store can take: keys, parties, corrections, plugin checks.

Everything here runs before anything is written, and any problem rejects the whole batch
with a message that names the place (file and line) and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import NAMESPACE_URL, uuid4, uuid5

from events import Fact
from events.errors import closest
from ledger.errors import RejectedError
from ledger.host import PluginHost
from ledger.records import Recorded
from ledger.timeline import CORRECTION_KINDS, FactIndex, registered_parties, resolve

FACT_NAMESPACE = uuid5(NAMESPACE_URL, "dealledger:fact")
CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of this machine's clock an imported recorded time may be (clocks differ a little)."""


@dataclass(frozen=True)
class Incoming:
    """A parsed fact and where it came from (``facts.jsonl:12``), for error messages.

    ``id`` and ``recorded`` are set only when importing an export: the fact then keeps the
    identity and transaction time it had in the ledger it came from.
    """

    place: str
    fact: Fact
    id: str | None = None
    recorded: datetime | None = None


@dataclass(frozen=True)
class AppendResult:
    added: tuple[Recorded, ...]
    unchanged: int
    """Facts whose key was already recorded with the same content: re-appending is a no-op."""


def fact_id(fact: Fact) -> str:
    """A key gives the same id everywhere (uuid5), so the same fact has one identity in every ledger."""
    return uuid5(FACT_NAMESPACE, fact.key).hex if fact.key else uuid4().hex


class BatchBuilder:
    """Checks a batch against the ledger as it stands and numbers its facts."""

    def __init__(self, host: PluginHost, incoming: Sequence[Incoming]) -> None:
        self.host = host
        self.incoming = incoming

    def build(self, existing: Sequence[Recorded]) -> tuple[list[Recorded], AppendResult]:
        index = FactIndex(existing)
        retracted = {record.fact.fact for record in existing if record.kind == "fact.retracted"}  # type: ignore[attr-defined]
        parties = self._parties(existing)
        batch: list[Recorded] = []
        places: dict[str, str] = {}
        unchanged = 0
        seq = existing[-1].seq if existing else 0
        recorded = recorded_time(existing)
        reregistered: list[str] = []  # places of corrections or retractions of a party's registration
        for item in self.incoming:
            fact = item.fact
            known = index.by_id.get(item.id) if item.id is not None else None
            if known is None and fact.key is not None:
                known = index.by_key.get(fact.key)
            if known is not None:
                if known.fact == fact and item.id in (None, known.id):
                    unchanged += 1
                    continue
                field, value = ("key", fact.key) if known.key is not None and known.key == fact.key else ("id", known.id)
                where = "earlier in this batch" if known.id in places else f"as fact {known.id[:12]}"
                raise RejectedError(
                    f"{item.place}: {field}: {value!r} is already recorded {where} with different content;"
                    " to change it, append a fact.corrected naming it"
                )
            self._check_parties(item, parties)
            if fact.kind in CORRECTION_KINDS and self._check_target(item, index, retracted).kind == "party.registered":
                reregistered.append(item.place)
            if item.recorded is not None:
                recorded = self._imported_time(item, existing, batch)
            seq += 1
            record = Recorded(item.id or fact_id(fact), seq, recorded, fact)
            batch.append(record)
            places[record.id] = item.place
            index.add(record)
            if fact.kind == "fact.retracted":
                retracted.add(fact.fact)  # type: ignore[attr-defined]
        if reregistered:
            self._check_registrations([*existing, *batch], reregistered[0])
        if batch:
            self._validate(existing, batch, places)
        return batch, AppendResult(tuple(batch), unchanged)

    @staticmethod
    def _check_registrations(records: Sequence[Recorded], place: str) -> None:
        """After a registration is retracted or corrected, every fact in force must still name registered parties."""
        story = resolve(records)
        registered = registered_parties(story)
        for record in story:
            for path, slug in record.fact.party_fields():
                if slug not in registered and not (record.kind == "party.registered" and path == "party"):
                    raise RejectedError(
                        f"{place}: fact: {record.describe()} still names {slug!r} in {path}; "
                        "correct or retract it first, or keep the party registered"
                    )

    @staticmethod
    def _imported_time(item: Incoming, existing: Sequence[Recorded], batch: Sequence[Recorded]) -> datetime:
        """An imported fact keeps its recorded time, which must not go back in time."""
        assert item.recorded is not None
        if item.recorded > datetime.now(UTC) + CLOCK_SKEW:
            raise RejectedError(
                f"{item.place}: recorded: {item.recorded.isoformat()} is in the future; every later append would be"
                " recorded after it and --known-at would stop making sense"
            )
        if existing and item.recorded <= existing[-1].recorded:
            raise RejectedError(
                f"{item.place}: recorded: {item.recorded.isoformat()} is not after the ledger's last recorded time"
                f" {existing[-1].recorded.isoformat()}; an export can only be imported into an empty ledger or continue it"
            )
        if batch and item.recorded < batch[-1].recorded:
            raise RejectedError(f"{item.place}: recorded: {item.recorded.isoformat()} goes back in time")
        return item.recorded

    def _parties(self, existing: Sequence[Recorded]) -> set[str]:
        """Registered slugs: in force in the ledger (not retracted), or anywhere in this batch (a batch is one whole)."""
        registrations = [r for r in existing if r.kind == "party.registered" or r.kind in CORRECTION_KINDS]
        known = registered_parties(resolve(registrations))
        for fact in (i.fact for i in self.incoming):
            if fact.kind == "party.registered":
                known.add(fact.party)  # type: ignore[attr-defined]
            elif fact.kind == "fact.corrected" and fact.replacement.kind == "party.registered":  # type: ignore[attr-defined]
                known.add(fact.replacement.party)  # type: ignore[attr-defined]
        return known

    def _check_parties(self, item: Incoming, parties: set[str]) -> None:
        for path, slug in item.fact.party_fields():
            if item.fact.kind == "party.registered" and path == "party":
                continue
            if slug not in parties:
                close = closest(slug, parties)
                hint = f"did you mean {close!r}? " if close else ""
                raise RejectedError(
                    f"{item.place}: {path}: unknown party {slug!r}; {hint}register it first with a party.registered fact"
                )

    def _check_target(self, item: Incoming, index: FactIndex, retracted: set[str]) -> Recorded:
        fact = item.fact
        ref: str = fact.fact  # type: ignore[attr-defined]
        target = index.find(ref)
        if target is None:
            raise RejectedError(f"{item.place}: fact: no recorded fact has the id or key {ref!r}")
        if target.kind in CORRECTION_KINDS:
            raise RejectedError(f"{item.place}: fact: {ref!r} is a {target.kind}; correct or retract the original fact")
        if target.id in retracted or (target.key is not None and target.key in retracted) or ref in retracted:
            raise RejectedError(f"{item.place}: fact: {ref!r} was retracted; record a new fact instead")
        if fact.kind == "fact.corrected":
            replacement: Fact = fact.replacement  # type: ignore[attr-defined]
            if replacement.kind != target.kind:
                raise RejectedError(
                    f"{item.place}: replacement.kind: a correction must keep the kind {target.kind!r}, not {replacement.kind!r}"
                )
            if replacement.key is not None and replacement.key != target.key:
                raise RejectedError(f"{item.place}: replacement.key: must be absent or the original's key {target.key!r}")
        return target

    def _validate(self, existing: Sequence[Recorded], batch: Sequence[Recorded], places: dict[str, str]) -> None:
        """Ask every plugin what would be wrong; refuse the batch for anything that was not wrong before."""
        after = self.host.validate(resolve([*existing, *batch]), batch)
        if not after:
            return
        # The same question of the ledger without the batch (``new`` tells plugins where to look).
        before = set(self.host.validate(resolve(existing), batch)) if existing else set()
        fresh = [problem for problem in after if problem not in before]
        if not fresh:
            return
        first = fresh[0]
        place = next((places[i] for i in first.facts if i in places), None)
        if place is None:
            # The problem lies in a fact already recorded (a back-dated fact broke a later one):
            # point at the batch that caused it.
            ordered = list(places.values())
            place = ordered[0] if len(ordered) == 1 else f"{ordered[0]} to {ordered[-1]}"
        more = f" (and {len(fresh) - 1} more problem(s))" if len(fresh) > 1 else ""
        raise RejectedError(f"{place}: {first}{more}")


def recorded_time(existing: Sequence[Recorded]) -> datetime:
    """Now, in UTC, but always later than the last batch: recorded times strictly increase batch by batch."""
    now = datetime.now(UTC)
    if existing and now <= existing[-1].recorded:
        now = existing[-1].recorded + timedelta(microseconds=1)
    return now


