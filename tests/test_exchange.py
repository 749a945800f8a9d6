"""Export then import reproduces the ledger exactly: ids, effective and recorded times, order."""

from __future__ import annotations

import io
import itertools
import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from ledger.api import Ledger
from ledger.errors import RejectedError
from ledger.exchange import export_lines, import_stream
from ledger.importing import incoming_from_path
from tests.conftest import DATA
from tests.test_replay_properties import REGISTRATIONS, SPENDING, appended, order_free_facts


def export_text(ledger: Ledger) -> str:
    return "".join(export_lines(ledger.records()))


def import_text(ledger: Ledger, text: str) -> Any:
    return ledger.append(import_stream(ledger.catalogue, io.StringIO(text), "export.jsonl"))


def test_export_import_reproduces_every_backend(store_url: str, tmp_path: Path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'source.db'}") as source:
        source.append(incoming_from_path(source.catalogue, str(DATA / "catalogue.jsonl")))
        text = export_text(source)
        expected = source.records()
    with Ledger(store_url) as copy:
        assert len(import_text(copy, text).added) == 23
        assert copy.records() == expected
        assert export_text(copy) == text
        again = import_text(copy, text)
        assert again.added == () and again.unchanged == 23
    with Ledger(store_url) as reopened:
        assert reopened.records() == expected


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts=order_free_facts(), cuts=st.lists(st.integers(min_value=0, max_value=30), max_size=3))
def test_export_import_round_trip_over_many_batches(facts: list[dict[str, Any]], cuts: list[int]) -> None:
    ordered = [f for f in facts if f["kind"] not in SPENDING] + [f for f in facts if f["kind"] in SPENDING]
    bounds = sorted({0, len(ordered), *(min(c, len(ordered)) for c in cuts)})
    batches = [REGISTRATIONS] + [ordered[a:b] for a, b in itertools.pairwise(bounds)]
    with (
        tempfile.TemporaryDirectory() as folder,
        appended(Path(folder), "a", batches) as source,
        Ledger(f"sqlite:///{folder}/b.db") as copy,
    ):
        import_text(copy, export_text(source))
        assert copy.records() == source.records()
        assert {r.recorded for r in copy.records()} == {r.recorded for r in source.records()}


def test_an_export_cannot_skip_lines_or_go_back_in_time(sqlite_url: str, tmp_path: Path) -> None:
    with Ledger(sqlite_url) as source:
        source.append(incoming_from_path(source.catalogue, str(DATA / "catalogue.jsonl")))
        lines = export_text(source).splitlines(keepends=True)
    with Ledger(f"sqlite:///{tmp_path / 'gap.db'}") as copy:
        with pytest.raises(RejectedError, match=r"^export.jsonl:2: seq: expected 2, got 3"):
            import_text(copy, lines[0] + lines[2])
        assert copy.records() == []
    with Ledger(f"sqlite:///{tmp_path / 'newer.db'}") as newer:
        newer.append(list(incoming_from_path(newer.catalogue, str(DATA / "catalogue.jsonl")))[:1])  # recorded now
        with pytest.raises(RejectedError, match=r"^export.jsonl:1: recorded: .* is before the ledger's last recorded time"):
            import_text(newer, "".join(lines[1:4]))
        assert len(newer.records()) == 1


def test_an_export_from_the_future_is_refused(tmp_path: Path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'a.db'}") as source:
        source.append(list(incoming_from_path(source.catalogue, str(DATA / "catalogue.jsonl")))[:1])
        line = export_text(source).replace('"recorded":"20', '"recorded":"29', 1)
    future = pytest.raises(RejectedError, match=r"^export.jsonl:1: recorded: 29.* is in the future")
    with Ledger(f"sqlite:///{tmp_path / 'b.db'}") as copy, future:
        import_text(copy, line)


def test_recorded_times_are_kept_in_utc_to_the_microsecond_from_1970(sqlite_url: str, tmp_path: Path) -> None:
    with Ledger(sqlite_url) as source:
        source.append(incoming_from_path(source.catalogue, str(DATA / "catalogue.jsonl")))
        text = export_text(source)
        head = source.store.head()
    first = json.loads(text.splitlines()[0])
    moment = datetime.fromisoformat(first["recorded"])
    # the same moments written at another offset: the same facts, stored as the source stored them
    shifted = text.replace(first["recorded"], moment.astimezone(timezone(timedelta(hours=5))).isoformat())
    assert shifted != text
    with Ledger(f"sqlite:///{tmp_path / 'shifted.db'}") as copy:
        import_text(copy, shifted)
        assert export_text(copy) == text and copy.store.head() == head  # same bytes, so the same hash chain
    refused = {
        "0001-01-01T00:00:00+01:00": r"is out of range in UTC",
        "9999-12-31T23:59:59-05:00": r"is out of range in UTC",
        "1969-12-31T23:59:59+00:00": r"is before 1970-01-01T00:00:00Z",
        moment.strftime("%Y-%m-%dT%H:%M:%S.123456789+00:00"): r"is finer than a microsecond",
        moment.strftime("%Y-%m-%d %H:%M:%S.1234567+00:00"): r"is finer than a microsecond",
    }
    for number, (recorded, message) in enumerate(refused.items()):
        with Ledger(f"sqlite:///{tmp_path / f'refused{number}.db'}") as copy:
            with pytest.raises(RejectedError, match=rf"^export.jsonl:1: recorded: .*{message}"):
                import_text(copy, text.replace(first["recorded"], recorded))
            assert copy.records() == []


def test_an_export_fills_an_empty_ledger_or_continues_one_at_its_own_positions(sqlite_url: str, tmp_path: Path) -> None:
    with Ledger(sqlite_url) as source:
        source.append(incoming_from_path(source.catalogue, str(DATA / "catalogue.jsonl")))  # one batch: one recorded time
        lines = export_text(source).splitlines(keepends=True)
        head = source.store.head()
    # an export cut in the middle of a batch, then the whole one: the rest of the batch continues it
    with Ledger(f"sqlite:///{tmp_path / 'cut.db'}") as copy:
        import_text(copy, "".join(lines[:10]))
        assert len(import_text(copy, "".join(lines)).added) == len(lines) - 10
        assert copy.store.head() == head
    # an export that does not start at the first position, or a ledger it was not taken from, is refused
    with Ledger(f"sqlite:///{tmp_path / 'late.db'}") as copy:
        with pytest.raises(RejectedError, match=r"^export.jsonl:1: seq: the ledger's next position is #1, not #5"):
            import_text(copy, "".join(lines[4:]))
        assert copy.records() == []
    with Ledger(f"sqlite:///{tmp_path / 'other.db'}") as other:
        other.append(list(incoming_from_path(other.catalogue, str(DATA / "catalogue.jsonl")))[5:6])
        with pytest.raises(RejectedError, match=r"^export.jsonl:1: seq: the ledger's next position is #2, not #1"):
            import_text(other, "".join(lines))
        assert len(other.records()) == 1
    # a fact already there, claimed at another position
    with Ledger(f"sqlite:///{tmp_path / 'moved.db'}") as copy:
        import_text(copy, "".join(lines[:3]))
        moved = lines[1].replace('"seq":2,', '"seq":4,', 1)
        with pytest.raises(RejectedError, match=r"^export.jsonl:4: seq: this fact is stored at #2, not #4"):
            import_text(copy, "".join([*lines[:3], moved]))
