"""Export then import reproduces the ledger exactly: ids, effective and recorded times, order."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from events import Catalogue
from events.codecs import MAX_KEY_LENGTH, MAX_SLUG_LENGTH
from events.readers import MAX_FACT_BYTES, MAX_LINE_BYTES
from ledger.api import Ledger
from ledger.appending import Incoming
from ledger.errors import RejectedError
from ledger.exchange import MAX_EXPORT_LINE_BYTES, WRAPPER_BYTES, export_lines, import_stream
from ledger.importing import incoming_from_path
from tests.conftest import DATA
from tests.test_replay_properties import REGISTRATIONS, SPENDING, appended, order_free_facts


def export_text(ledger: Ledger) -> str:
    return "".join(export_lines(ledger.records(), ledger.store.known_times()))


def import_text(ledger: Ledger, text: str) -> Any:
    return ledger.append(import_stream(ledger.catalogue, io.StringIO(text), "export.jsonl"))


def unended(lines: list[str]) -> str:
    """Exported lines as an export made before lines named its end (``of``) wrote them: a part of one is read as it
    stands, where a part of a newer one is refused as cut short."""
    return "".join(re.sub(r'"of":[0-9]+,', "", line, count=1) for line in lines)


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


def test_the_longest_slug_and_key_are_stored_and_moved_on_every_backend(store_url: str, tmp_path: Path) -> None:
    """A slug and a key as long as facts may hold fit every backend's index, so a ledger holding them moves to any."""
    party, key = "a" * MAX_SLUG_LENGTH, "é" * MAX_KEY_LENGTH
    registered = {"kind": "party.registered", "effective": "2024-01-01", "party": party, "name": "A", "type": "company"}
    marked = {"kind": "valuation.marked", "effective": "2024-02-01", "company": party, "valuation": "1", "currency": "USD"}
    with Ledger(f"sqlite:///{tmp_path / 'source.db'}") as source:
        parse = source.catalogue.parse
        source.append([Incoming("test:1", parse(registered | {"key": key})), Incoming("test:2", parse(marked))])
        text = export_text(source)
    with Ledger(store_url) as copy:
        import_text(copy, text)
        assert export_text(copy) == text
        assert [record.fact.key for record in copy.records()] == [key, None]


def test_an_order_naming_no_company_is_exported_and_imported_back(sqlite_url: str, tmp_path: Path) -> None:
    """``companies: []`` is what ledgers already hold (an order naming no company); their exports must import again."""
    facts = [
        {"kind": "party.registered", "effective": "2020-01-01", "party": "samr", "name": "SAMR", "type": "regulator"},
        {"kind": "party.registered", "effective": "2020-01-01", "party": "alibaba", "name": "Alibaba", "type": "investor"},
        {"kind": "divestment.ordered", "effective": "2024-01-01", "key": "o1", "authority": "samr", "target": "alibaba",
         "companies": [], "deadline": "2024-06-01"},
    ]  # fmt: skip
    with Ledger(sqlite_url) as source:
        source.append([Incoming(f"test:{n}", source.catalogue.parse(f)) for n, f in enumerate(facts, 1)])
        text = export_text(source)
        assert '"companies":[]' in text
    with Ledger(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        assert len(import_text(copy, text).added) == 3
        assert export_text(copy) == text


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
            import_text(newer, unended(lines[1:4]))
        assert len(newer.records()) == 1


def test_an_export_cut_short_even_at_a_line_s_end_is_refused(sqlite_url: str, tmp_path: Path) -> None:
    """Every line names the export's last position: a copy that stopped at a line's end imported as a whole, shorter
    ledger. One whose lines disagree on where it ends is refused too; one made before lines said is read as before."""
    with Ledger(sqlite_url) as source:
        source.append(incoming_from_path(source.catalogue, str(DATA / "catalogue.jsonl")))
        lines = export_text(source).splitlines(keepends=True)
    assert all(json.loads(line)["of"] == len(lines) for line in lines)
    with Ledger(f"sqlite:///{tmp_path / 'cut.db'}") as copy:
        ends = f"the export ends at #10, where its lines say it holds up to #{len(lines)}: it was cut short"
        with pytest.raises(RejectedError, match=rf"^export.jsonl:10: of: {ends}$"):
            import_text(copy, "".join(lines[:10]))
        other_end = lines[4].replace(f'"of":{len(lines)},', f'"of":{len(lines) + 1},', 1)
        said = f"names #{len(lines) + 1} as the export's end, where its first line said #{len(lines)}"
        with pytest.raises(RejectedError, match=rf"^export.jsonl:5: of: {said}$"):
            import_text(copy, "".join([*lines[:4], other_end, *lines[5:]]))
        no_end = lines[0].replace(f'"of":{len(lines)},', '"of":null,', 1)  # null is not "none said": refused
        with pytest.raises(RejectedError, match=r"^export.jsonl:1: of: expected the position of the export's last fact"):
            import_text(copy, no_end)
        with pytest.raises(RejectedError, match=rf"^export.jsonl:6: of: names no end, where its first line said #{len(lines)}$"):
            import_text(copy, "".join(lines[:5]) + unended(lines[5:]))
        named = f"names #{len(lines)} as the export's end, where its first line named none"
        with pytest.raises(RejectedError, match=rf"^export.jsonl:6: of: {named}$"):
            import_text(copy, unended(lines[:5]) + "".join(lines[5:]))
        assert copy.records() == []
        assert len(import_text(copy, unended(lines[:10])).added) == 10  # an older export's part: as it stands
        assert len(import_text(copy, "".join(lines)).added) == len(lines) - 10


def test_an_export_from_the_future_is_refused(tmp_path: Path) -> None:
    with Ledger(f"sqlite:///{tmp_path / 'a.db'}") as source:
        source.append(list(incoming_from_path(source.catalogue, str(DATA / "catalogue.jsonl")))[:1])
        line = export_text(source).replace('"recorded":"20', '"recorded":"29', 1)
    future = pytest.raises(RejectedError, match=r"^export.jsonl:1: recorded: 29.* is in the future")
    with Ledger(f"sqlite:///{tmp_path / 'b.db'}") as copy, future:
        import_text(copy, line)


def test_a_keyed_fact_under_an_id_its_key_does_not_give_is_refused(tmp_path: Path) -> None:
    """A key gives one id in every ledger: imported under another, the fact took the id a later fact's key gives,
    and that fact could then never be appended."""
    with Ledger(f"sqlite:///{tmp_path / 'a.db'}") as source:
        source.append(list(incoming_from_path(source.catalogue, str(DATA / "catalogue.jsonl")))[:1])
        line = json.loads(export_text(source))
    assert line["fact"]["key"]
    line["id"] = "0" * 32
    refused = pytest.raises(RejectedError, match=rf"^export.jsonl:1: id: 0{{32}} is not the id of key '{line['fact']['key']}'")
    with Ledger(f"sqlite:///{tmp_path / 'b.db'}") as copy, refused:
        import_text(copy, json.dumps(line) + "\n")


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
        import_text(copy, unended(lines[:10]))
        assert len(import_text(copy, "".join(lines)).added) == len(lines) - 10
        assert copy.store.head() == head
    # an export that does not start at the first position, or a ledger it was not taken from, is refused
    with Ledger(f"sqlite:///{tmp_path / 'late.db'}") as copy:
        with pytest.raises(RejectedError, match=r"^export.jsonl:1: seq: the ledger's next position is #1, not #5"):
            import_text(copy, "".join(lines[4:]))  # a tail ends where its lines say: refused for where it starts
        assert copy.records() == []
    with Ledger(f"sqlite:///{tmp_path / 'other.db'}") as other:
        other.append(list(incoming_from_path(other.catalogue, str(DATA / "catalogue.jsonl")))[5:6])
        with pytest.raises(RejectedError, match=r"^export.jsonl:1: seq: the ledger's next position is #2, not #1"):
            import_text(other, "".join(lines))
        assert len(other.records()) == 1
    # a fact already there, claimed at another position
    with Ledger(f"sqlite:///{tmp_path / 'moved.db'}") as copy:
        import_text(copy, unended(lines[:3]))
        moved = lines[1].replace('"seq":2,', '"seq":4,', 1)
        with pytest.raises(RejectedError, match=r"^export.jsonl:4: seq: this fact is stored at #2, not #4"):
            import_text(copy, unended([*lines[:3], moved]))


def test_an_export_of_another_history_of_the_same_facts_is_refused_not_taken_as_there(sqlite_url: str, tmp_path: Path) -> None:
    """The same facts (the same keys, so the same ids) recorded or known at other times are another history: an
    import that took them as already there dropped the file's times without a word."""
    with Ledger(sqlite_url) as source:
        source.append(incoming_from_path(source.catalogue, str(DATA / "catalogue.jsonl")))
        lines = export_text(source).splitlines(keepends=True)
    recorded = json.loads(lines[4])["recorded"]
    with Ledger(f"sqlite:///{tmp_path / 'copy.db'}") as copy:
        import_text(copy, "".join(lines))
        assert import_text(copy, "".join(lines)).unchanged == len(lines)  # the same history: nothing to do
        edited = lines[4].replace(f'"recorded":"{recorded}"', '"recorded":"2020-01-01T00:00:00+00:00"', 1)
        with pytest.raises(
            RejectedError,
            match=rf"^export.jsonl:5: recorded: this fact is stored here as recorded at {re.escape(recorded)}, "
            r"not 2020-01-01T00:00:00\+00:00; ",
        ):
            import_text(copy, "".join([*lines[:4], edited, *lines[5:]]))
        known = json.loads(lines[4])["known"]
        later = lines[4].replace(f'"known":"{known}"', '"known":"2030-01-01T00:00:00+00:00"', 1)
        with pytest.raises(RejectedError, match=r"^export.jsonl:5: known: this fact is stored here as known at "):
            import_text(copy, "".join([*lines[:4], later, *lines[5:]]))
    with Ledger(f"sqlite:///{tmp_path / 'another.db'}") as another:  # the same file appended again: other times
        another.append(incoming_from_path(another.catalogue, str(DATA / "catalogue.jsonl")))
        with pytest.raises(RejectedError, match=r"^export.jsonl:1: recorded: this fact is stored here as recorded at "):
            import_text(another, "".join(lines))
        assert len(another.records()) == len(lines)


# --- the largest fact goes out and comes back in, whatever format it came in ----------------------------------------

COMPANY = '{"kind": "party.registered", "effective": "2020-01-01", "party": "acme", "name": "Acme", "type": "company"}\n'
MARK = {"kind": "valuation.marked", "effective": "2024-01-01", "company": "acme", "valuation": "1", "currency": "USD"}


def mark_stored_in(size: int) -> dict[str, Any]:
    """A valuation whose note makes it take ``size`` bytes as stored, measured as ``json`` writes it (compact, UTF-8);
    a tab and an "é" take more bytes there than they are characters."""
    note = "a\té"
    stored = Catalogue().parse(MARK | {"note": note}).to_dict()
    padding = size - len(json.dumps(stored, ensure_ascii=False, separators=(",", ":")).encode())
    return MARK | {"note": note + "x" * padding}


def written_as(fmt: str, fact: dict[str, Any]) -> bytes:
    """``fact`` in ``fmt``, each line within ``MAX_LINE_BYTES`` for a fact of ``MAX_FACT_BYTES`` + 1 as stored."""
    if fmt == "jsonl":  # compact, and the valuation a number: the line is shorter than the fact as stored
        return json.dumps(fact | {"valuation": 1}, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
    if fmt == "yaml":
        return yaml.safe_dump([fact], allow_unicode=True, sort_keys=False, width=1 << 30).encode()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows([list(fact), list(fact.values())])
    return out.getvalue().encode()


@pytest.fixture
def wide_csv_cells() -> Iterator[None]:
    """CSV cells as long as a line (the csv module's own limit is 128 KiB unless changed), so one note may fill a fact."""
    before = csv.field_size_limit(MAX_LINE_BYTES)
    yield
    csv.field_size_limit(before)


@pytest.mark.usefixtures("wide_csv_cells")
@pytest.mark.parametrize("fmt", ["jsonl", "yaml", "csv"])
def test_a_fact_of_the_largest_size_is_exported_and_imported_back(fmt: str, run: Any) -> None:
    source, copy = "--url=sqlite:///source.db", "--url=sqlite:///copy.db"
    Path("company.jsonl").write_text(COMPANY)
    Path(f"largest.{fmt}").write_bytes(written_as(fmt, mark_stored_in(MAX_FACT_BYTES)))
    assert run(source, "append", "--file", "company.jsonl").exit_code == 0
    appended = run(source, "append", "--file", f"largest.{fmt}")
    assert (appended.exit_code, appended.stdout) == (0, "appended 1 fact; ledger head #2\n"), appended.output
    assert run(source, "export", "--out", "export.jsonl").exit_code == 0
    lines = Path("export.jsonl").read_bytes().splitlines()
    assert len(lines[1]) > MAX_LINE_BYTES  # the wrapper makes the line longer than any line a fact may come in
    assert json.loads(lines[1])["fact"]["note"] == mark_stored_in(MAX_FACT_BYTES)["note"]
    imported = run(copy, "import", "export.jsonl")
    assert (imported.exit_code, imported.stderr) == (0, ""), imported.output
    assert run(copy, "export").stdout.encode() == Path("export.jsonl").read_bytes()


@pytest.mark.usefixtures("wide_csv_cells")
@pytest.mark.parametrize("fmt", ["jsonl", "yaml", "csv"])
def test_a_fact_larger_as_stored_than_the_limit_is_refused_where_it_is(fmt: str, run: Any) -> None:
    Path("company.jsonl").write_text(COMPANY)
    data = written_as(fmt, mark_stored_in(MAX_FACT_BYTES + 1))
    Path(f"too-large.{fmt}").write_bytes(data)
    assert run("append", "--file", "company.jsonl").exit_code == 0
    line = {"csv": 2, "jsonl": 1, "yaml": 6}[fmt]  # a YAML fact's error is told on its field's line (the note's)
    says = "note: the fact would take 1,048,577 bytes as stored, more than the 1,048,576 one fact may hold (valuation.marked)"
    for name, stdin in ((f"too-large.{fmt}", None), ("-", data)):
        refused = run("append", "--file", name, "--input-format", fmt, input=stdin)
        place = "<stdin>" if name == "-" else name
        assert (refused.exit_code, refused.stdout, refused.stderr) == (1, "", f"Error: {place}:{line}: {says}\n")
    assert len(json.loads(run("log", "--format", "json").stdout)) == 1  # nothing written


def test_import_reads_a_line_as_long_as_an_export_can_write_and_no_longer(run: Any) -> None:
    """An exported line wraps a fact of up to ``MAX_FACT_BYTES`` in at most ``WRAPPER_BYTES`` more."""
    recorded = "2024-01-01T00:00:00.000001+00:00"  # the widest time export writes (in UTC, to the microsecond)
    wrapper = f'{{"seq":{2**63 - 1},"of":{2**63 - 1},"id":"{"f" * 32}","recorded":"{recorded}","known":"{recorded}","fact":}}'
    assert WRAPPER_BYTES == len(wrapper) == 189
    assert MAX_EXPORT_LINE_BYTES == MAX_FACT_BYTES + WRAPPER_BYTES
    longest = b'{"seq":1,"note":"' + b"x" * (MAX_EXPORT_LINE_BYTES - 19) + b'"}'
    Path("longest.jsonl").write_bytes(longest + b"\n")
    read = run("import", "longest.jsonl")  # read whole: what it says is about its fields
    assert read.stderr == (
        "Error: longest.jsonl:1: an exported line has exactly the fields seq, of (optional), id, recorded, "
        "known (optional), fact; "
        "got seq, note\n"
    )
    Path("longer.jsonl").write_bytes(longest[:-2] + b'x"}\n')
    too_long = run("import", "longer.jsonl")
    assert too_long.stderr == "Error: longer.jsonl:1: line: longer than 1,048,765 bytes, the most one line may hold\n"


def test_a_fact_over_many_yaml_lines_is_held_to_the_same_limit(run: Any) -> None:
    """YAML may take more text than one line for a fact (a block scalar), but not make a larger fact of it."""
    Path("company.jsonl").write_text(COMPANY)
    block = "".join(f"  {'x' * 97}\n" for _ in range(12_000))  # 1.2 MB of text, each line well within the limit
    Path("block.yaml").write_text(
        f"kind: valuation.marked\neffective: 2024-01-01\ncompany: acme\nvaluation: '1'\ncurrency: USD\nnote: |\n{block}"
    )
    assert run("append", "--file", "company.jsonl").exit_code == 0
    refused = run("append", "--file", "block.yaml")
    says = "note: the fact would take 1,188,110 bytes as stored, more than the 1,048,576 one fact may hold (valuation.marked)"
    assert (refused.exit_code, refused.stdout, refused.stderr) == (1, "", f"Error: block.yaml:6: {says}\n")  # the note's line
    assert len(json.loads(run("log", "--format", "json").stdout)) == 1  # nothing written
