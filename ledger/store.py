"""The fact store: an eventsourcing application whose one event stream is the ledger.

Every fact is one ``FactRecorded`` event in a single stream; its version is the fact's
position. That stream's version is also the optimistic lock: two writers who read the
same head both try to store the next version, the database keeps one, and the loser
re-reads, re-validates and tries again. One ``insert_events`` call is one transaction, so a
batch is stored whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.application import Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError, Transcoder

from events import FactError
from ledger import backends
from ledger.errors import ConcurrencyError, LedgerError
from ledger.host import PluginHost
from ledger.memory import collector_paused
from ledger.records import Recorded
from ledger.transcoding import FastJSONTranscoder

LEDGER_ID = uuid5(NAMESPACE_URL, "dealledger:ledger")
"""The id of the one stream that holds every fact."""

PAGE_SIZE = 5_000
MAX_ATTEMPTS = 50


class FactRecorded(DomainEvent):
    """A fact entered the ledger. ``timestamp`` is its recorded (transaction) time, UTC.

    The fact is kept in its interchange form, so what is stored is exactly what users
    exchange, and reading it back goes through the same validation as any input.
    """

    fact_id: str
    fact: dict[str, Any]


class LedgerApplication(Application[UUID]):
    """The eventsourcing application behind a ledger; its recorder and mapper do all storage."""

    name = "dealledger"

    def construct_transcoder(self) -> Transcoder:
        transcoder = FastJSONTranscoder()
        self.register_transcodings(transcoder)
        return transcoder


class Store:
    """Reads and writes facts through the eventsourcing recorder; knows nothing of validation."""

    def __init__(self, url: str | None, host: PluginHost) -> None:
        self.backend = backends.backend_for(backends.resolve_url(url))
        self.host = host
        backends.prepare(self.backend)
        try:
            self.app = LedgerApplication(env={"CREATE_TABLE": "y", **self.backend.env})
            backends.guard(self.backend, self.app.recorder)
        except PersistenceError as error:
            raise LedgerError(f"cannot open the store {self.backend.safe_url}: {_first_line(error)}") from None
        except ImportError as error:
            raise LedgerError(f"the store {self.backend.safe_url} needs a driver that is not installed: {error}") from None
        self._records: list[Recorded] = []
        self._last_notification = 0

    def close(self) -> None:
        self.app.close()

    # --- reading ------------------------------------------------------------------------

    def records(self) -> list[Recorded]:
        """Every stored fact in recording order (read incrementally: only what is new is fetched)."""
        with collector_paused():
            return self._read_new()

    def _read_new(self) -> list[Recorded]:
        recorder = self.app.recorder
        to_domain_event = self.app.mapper.to_domain_event
        parse = self.host.catalogue.parse
        while True:
            try:
                page = recorder.select_notifications(
                    start=self._last_notification, limit=PAGE_SIZE, inclusive_of_start=False
                )
            except PersistenceError as error:
                raise LedgerError(f"cannot read the store {self.backend.safe_url}: {_first_line(error)}") from None
            for notification in page:
                event = to_domain_event(notification)
                if not isinstance(event, FactRecorded):
                    continue
                try:
                    fact = parse(event.fact)
                except FactError as error:
                    raise LedgerError(
                        f"stored fact #{event.originator_version} cannot be read: {error}"
                        " (is the plugin that provides its kind installed?)"
                    ) from None
                self._records.append(Recorded(event.fact_id, event.originator_version, event.timestamp, fact))
            if page:
                self._last_notification = page[-1].id
            if len(page) < PAGE_SIZE:
                return self._records

    @property
    def head(self) -> int:
        return self._records[-1].seq if self._records else 0

    # --- writing ------------------------------------------------------------------------

    def write(self, batch: Sequence[Recorded]) -> bool:
        """Store the batch in one transaction. False when another writer took those positions first."""
        if not batch:
            return True
        to_stored_event = self.app.mapper.to_stored_event
        stored = [
            to_stored_event(
                FactRecorded(
                    originator_id=LEDGER_ID,
                    originator_version=record.seq,
                    timestamp=record.recorded,
                    fact_id=record.id,
                    fact=record.fact.to_dict(),
                )
            )
            for record in batch
        ]
        try:
            notification_ids = self.app.recorder.insert_events(stored)
        except IntegrityError:
            return False
        except OperationalError as error:
            if "locked" in str(error).lower():
                return False
            raise LedgerError(f"cannot write to the store {self.backend.safe_url}: {_first_line(error)}") from None
        except PersistenceError as error:
            raise LedgerError(f"cannot write to the store {self.backend.safe_url}: {_first_line(error)}") from None
        if self.head == batch[0].seq - 1 and notification_ids:
            # The write took the positions right after what we had read, so nobody wrote in
            # between: the batch joins the cache without being read back and parsed again.
            self._records.extend(batch)
            self._last_notification = max(notification_ids)
        return True


def write_with_retries(store: Store, build: Any) -> Any:
    """Run ``build(records) -> (batch, result)`` against fresh state until its batch is stored.

    ``build`` re-validates from scratch each time, so a writer who lost a race sees the
    winner's facts (its keys, its holdings) before trying again.
    """
    for _ in range(MAX_ATTEMPTS):
        batch, result = build(store.records())
        if store.write(batch):
            return result
    raise ConcurrencyError(f"gave up after {MAX_ATTEMPTS} attempts: other writers kept changing the ledger; try again")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__

