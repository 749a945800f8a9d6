"""``dealledger export --format ocf``: every company of the sample ledger as a valid, exact, reproducible OCF package.

The packages are validated here with jsonschema against the shipped OCF schemas, through a
``referencing`` registry built from those files alone (no network), independently of the
exporter's own check. Holdings are rebuilt from the transactions, security by security, and
must equal the ``ownership`` view's exact fractions.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from ledger.api import Ledger
from ledger.exact import Fraction, parse_fraction
from ledger.folds.money import fraction_out
from ledger.ocf import MANIFEST, OcfError
from ledger.ocf.numeric import numeric, share_price, share_scale
from ledger.views import Query

ROOT = Path(__file__).resolve().parents[1]
STORY = ROOT / "examples" / "story.jsonl"
SCHEMAS = ROOT / "ledger" / "ocf" / "schemas"


# --- the shipped schemas, read independently of the exporter ---------------------------------


def _schemas() -> dict[str, dict[str, Any]]:
    return {str(p.relative_to(SCHEMAS / "schema")): json.loads(p.read_text()) for p in SCHEMAS.glob("schema/**/*.json")}


SHIPPED = _schemas()
REGISTRY = Registry().with_resources(
    (s["$id"], Resource.from_contents(s, default_specification=DRAFT7)) for s in SHIPPED.values()
)


def _by_const(field: str) -> dict[str, dict[str, Any]]:
    """Concrete schemas by the constant of their ``file_type`` or ``object_type`` (abstract ones have none)."""
    return {s["properties"][field]["const"]: s for s in SHIPPED.values() if "const" in s.get("properties", {}).get(field, {})}


FILE_SCHEMA = _by_const("file_type")
OBJECT_SCHEMA = _by_const("object_type")


def schema_errors(instance: Any, schema: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(schema, registry=REGISTRY, format_checker=Draft7Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def validate_package(folder: Path) -> dict[str, Any]:
    """Every file against its file schema and every object against its own type's schema; returns the files."""
    manifest = json.loads((folder / MANIFEST).read_text())
    assert schema_errors(manifest, FILE_SCHEMA["OCF_MANIFEST_FILE"]) == []
    assert schema_errors(manifest["issuer"], OBJECT_SCHEMA["ISSUER"]) == []
    files: dict[str, Any] = {"manifest": manifest}
    listed = [entry for key, entries in manifest.items() if key.endswith("_files") for entry in entries]
    assert {e["filepath"] for e in listed} | {MANIFEST} == {p.name for p in folder.iterdir()}
    for entry in listed:
        data = (folder / entry["filepath"]).read_bytes()
        assert hashlib.md5(data, usedforsecurity=False).hexdigest() == entry["md5"]
        document = json.loads(data)
        assert schema_errors(document, FILE_SCHEMA[document["file_type"]]) == []
        for item in document["items"]:
            assert schema_errors(item, OBJECT_SCHEMA[item["object_type"]]) == [], item["id"]
        files[document["file_type"]] = document["items"]
    return files


def holdings(transactions: list[dict[str, Any]]) -> dict[str, Fraction]:
    """Shares per stakeholder, replaying the securities: issuances open them; transfers and cancellations close them whole."""
    open_: dict[str, tuple[str, Fraction]] = {}
    pending: dict[str, Fraction] = {}  # securities a transfer promised, to be issued with exactly that quantity
    for tx in transactions:
        kind, quantity = tx["object_type"], parse_fraction(tx["quantity"])
        if kind == "TX_STOCK_ISSUANCE":
            assert tx["security_id"] not in open_
            if tx["security_id"] in pending:
                assert pending.pop(tx["security_id"]) == quantity
            open_[tx["security_id"]] = (tx["stakeholder_id"], quantity)
        else:
            _, held = open_.pop(tx["security_id"])
            assert 0 < quantity <= held
            if kind == "TX_STOCK_TRANSFER":
                (resulting,) = tx["resulting_security_ids"]
                pending[resulting] = quantity
                if quantity < held:
                    pending[tx["balance_security_id"]] = held - quantity
            else:
                assert kind == "TX_STOCK_CANCELLATION" and quantity == held
    assert pending == {}, "a transfer's resulting or balance security was never issued"
    shares: dict[str, Fraction] = {}
    for holder, quantity in open_.values():
        shares[holder] = shares.get(holder, Fraction(0)) + quantity
    return shares


# --- running the command ----------------------------------------------------------------------


@pytest.fixture
def sample(run, tmp_path: Path) -> Iterator[Ledger]:  # type: ignore[no-untyped-def]
    assert run("append", "--file", str(STORY)).exit_code == 0
    with Ledger(f"sqlite:///{tmp_path / 'dealledger.db'}") as ledger:
        yield ledger


def companies(ledger: Ledger) -> list[str]:
    """The companies with a cap table, read from the ledger (the sample may grow)."""
    return sorted({row["company"] for row in ledger.view("ownership", Query())})


def exact_fractions(ledger: Ledger, company: str, as_of: date) -> dict[str, Fraction]:
    view = ledger.host.view("ownership")
    state = ledger.state(view, Query(as_of=as_of, options={"company": company}))
    return {f"stakeholder-{holder}": share for holder, share in state.tables.holders(company).items()}


def test_every_company_of_the_sample_exports_valid_exact_ocf(run, sample: Ledger, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    names = companies(sample)
    assert len(names) >= 5
    for company in names:
        out = tmp_path / "ocf" / company
        result = run("export", "--format", "ocf", "--company", company, "--out", str(out))
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"wrote {company}'s OCF package (")
        files = validate_package(out)
        as_of = date.fromisoformat(files["manifest"]["as_of"])
        shares = holdings(files["OCF_TRANSACTIONS_FILE"])
        total = sum(shares.values(), Fraction(0))
        fractions = {holder: count / total for holder, count in shares.items() if count}
        assert fractions == exact_fractions(sample, company, as_of), company
        rows = sample.view("ownership", Query(as_of=as_of, options={"company": company}))
        shown = {f"stakeholder-{r['holder']}": r["fraction"] for r in rows}
        assert shown.keys() == fractions.keys()
        for holder, value in shown.items():  # rows show six places, or the exact fraction
            assert value == (fraction_out(fractions[holder]) if isinstance(value, Decimal) else fractions[holder])
        stakeholders = {s["id"] for s in files["OCF_STAKEHOLDERS_FILE"]}
        assert set(shares) <= stakeholders
        assert all(float(q) == int(q) for q in map(Fraction, shares.values()))  # whole notional shares


def test_each_company_at_each_date_it_changed(sample: Ledger, tmp_path: Path) -> None:
    """Cap tables in the past: at every date an ownership fact changed a company, the package matches the view."""
    from ledger import ocf

    for company in companies(sample):
        dates = sorted({r.effective for r in sample.story() if getattr(r.fact, "company", None) == company})
        for as_of in dates:
            package = ocf.build(sample, company, as_of)
            folder = tmp_path / f"{company}-{as_of}"
            ocf.write(package, folder)
            manifest = json.loads((folder / MANIFEST).read_text())  # the exporter validated it; the test above does too
            assert manifest["as_of"] == as_of.isoformat()
            shares = holdings(json.loads((folder / "Transactions.ocf.json").read_text())["items"])
            total = sum(shares.values(), Fraction(0))
            expected = exact_fractions(sample, company, as_of)
            assert {h: c / total for h, c in shares.items()} == expected, (company, as_of)


def test_exports_are_identical_again_and_after_a_round_trip_through_jsonl(run, sample: Ledger, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    company = companies(sample)[0]
    for out in ("a", "b"):
        assert run("export", "--format", "ocf", "--company", company, "--out", out).exit_code == 0
    assert run("export", "--out", "ledger.jsonl").exit_code == 0
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    assert run("--url", copy, "import", "ledger.jsonl").exit_code == 0
    assert run("--url", copy, "export", "--format", "ocf", "--company", company, "--out", "c").exit_code == 0
    for name in (tmp_path / "a").iterdir():
        assert name.read_bytes() == (tmp_path / "b" / name.name).read_bytes() == (tmp_path / "c" / name.name).read_bytes()
    # jsonl stays the default and the exact round trip
    assert run("export").output == run("export", "--format", "jsonl").output == (tmp_path / "ledger.jsonl").read_text()
    assert run("--url", copy, "export").output == (tmp_path / "ledger.jsonl").read_text()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--format", "ocf", "--out", "pkg"], 2, "Error: --company is required with --format ocf\n"),
        (
            ["--format", "ocf", "--company", "moonshot", "--out", "pkg"],
            1,
            "Error: --company: unknown party 'moonshot'; did you mean 'moonshot-ai'?\n",
        ),
        (
            ["--format", "ocf", "--company", "moonshot-ai"],
            2,
            "Error: --out DIR is required with --format ocf: the package is a directory of files\n",
        ),
        (["--company", "moonshot-ai", "--out", "pkg"], 2, "Error: --company applies to --format ocf only\n"),
        (
            ["--format", "ocf", "--company", "moonshot-ai", "--as-of", "2001-01-01", "--out", "pkg"],
            1,
            "Error: --as-of 2001-01-01: before moonshot-ai's first fact (2019-01-01)\n",
        ),
        (
            ["--format", "ocf", "--company", "moonshot-ai", "--known-at", "2000-01-01", "--out", "pkg"],
            1,
            "Error: --company: 'moonshot-ai' was not yet registered at --known-at 2000-01-01T23:59:59.999999+00:00\n",
        ),
    ],
)
def test_misuse_is_one_line_and_writes_nothing(run, sample: Ledger, tmp_path: Path, args: list[str], code: int, message: str):  # type: ignore[no-untyped-def]
    result = run("export", *args)
    assert (result.exit_code, result.output) == (code, message)
    assert not (tmp_path / "pkg").exists()


# --- worked examples, computed by hand --------------------------------------------------------


PARTIES = """\
{"kind": "party.registered", "effective": "2020-01-01", "party": "acme", "name": "Acme", "type": "company", "jurisdiction": "US"}
{"kind": "party.registered", "effective": "2020-01-01", "party": "vc", "name": "VC Fund", "type": "investor"}
{"kind": "party.registered", "effective": "2020-01-01", "party": "corp", "name": "Corp", "type": "company"}
{"kind": "party.registered", "effective": "2020-01-01", "party": "b", "name": "B Capital", "type": "investor"}
"""


def export_ledger(run, tmp_path: Path, text: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Append the ledger text (after the parties) and export acme's package, validated."""
    (tmp_path / "facts.jsonl").write_text(PARTIES + text)
    assert run("append", "--file", "facts.jsonl").exit_code == 0
    result = run("export", "--format", "ocf", "--company", "acme", "--out", "pkg")
    assert result.exit_code == 0, result.output
    return validate_package(tmp_path / "pkg")


def test_a_round_then_half_a_stake_sold(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Founders hold 1 unit. Seed: 100 USD at 300 pre-money gives vc 100/300 = 1/3 unit (1/4 of 4/3).
    vc sells half its holding to corp: 1/6 unit. Counts {1, 1/3, 1/6}: least scale lcm(1, 3, 6) = 6,
    so founders 6 shares, vc 2 shares at 100/2 = 50 USD, a transfer of 1 share leaving vc 1 and corp 1:
    fractions 6/8 = 0.75, 1/8, 1/8."""
    files = export_ledger(
        run,
        tmp_path,
        """\
{"kind": "round.closed", "effective": "2024-01-10", "company": "acme", "round": "seed", "amount": "100", "currency": "USD", \
"pre_money": "300", "investors": [{"party": "vc", "amount": "100"}]}
{"kind": "stake.divested", "effective": "2024-06-01", "holder": "vc", "company": "acme", "portion": "0.5", "buyer": "corp", \
"proceeds": "60", "currency": "USD"}
""",
    )
    txs = files["OCF_TRANSACTIONS_FILE"]
    summary = [(t["object_type"], t.get("stakeholder_id"), t["quantity"], t.get("share_price", {}).get("amount")) for t in txs]
    assert summary == [
        ("TX_STOCK_ISSUANCE", "stakeholder-founders", "6", "0"),
        ("TX_STOCK_ISSUANCE", "stakeholder-vc", "2", "50"),
        ("TX_STOCK_TRANSFER", None, "1", None),
        ("TX_STOCK_ISSUANCE", "stakeholder-corp", "1", "50"),
        ("TX_STOCK_ISSUANCE", "stakeholder-vc", "1", "50"),
    ]
    assert txs[0]["share_price"] == {"amount": "0", "currency": "XXX"}
    assert txs[1]["cost_basis"] == {"amount": "100", "currency": "USD"}
    assert txs[2]["consideration_text"] == "60 USD in all"
    assert txs[2]["resulting_security_ids"] == [txs[3]["security_id"]] and txs[2]["balance_security_id"] == txs[4]["security_id"]
    assert holdings(txs) == {"stakeholder-founders": 6, "stakeholder-vc": 1, "stakeholder-corp": 1}
    classes = files["OCF_STOCK_CLASSES_FILE"]
    assert [(c["name"], c["class_type"], c.get("price_per_share")) for c in classes] == [
        ("Common", "COMMON", None),
        ("Round seed", "PREFERRED", {"amount": "50", "currency": "USD"}),
    ]
    assert [s["name"]["legal_name"] for s in files["OCF_STAKEHOLDERS_FILE"]] == ["Founders", "VC Fund", "Corp"]
    issuer = files["manifest"]["issuer"]
    assert (issuer["legal_name"], issuer["country_of_formation"], issuer["formation_date"]) == ("Acme", "US", "2020-01-01")


def test_a_round_at_zero_pre_money_cancels_the_old_holders(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Pre-money 0: founders' 1 unit is wiped out; vc's 50 USD buys 50 x 1/50 = 1 unit, the whole company.
    Counts {1, 1}: scale 1; the founders' 1 share is cancelled and vc holds 1 share at 50 USD."""
    files = export_ledger(
        run,
        tmp_path,
        """\
{"kind": "round.closed", "effective": "2024-02-01", "company": "acme", "round": "restart", "amount": "50", "currency": "USD", \
"pre_money": "0", "investors": [{"party": "vc", "amount": "50"}]}
""",
    )
    txs = files["OCF_TRANSACTIONS_FILE"]
    assert [(t["object_type"], t["quantity"]) for t in txs] == [
        ("TX_STOCK_ISSUANCE", "1"),
        ("TX_STOCK_CANCELLATION", "1"),
        ("TX_STOCK_ISSUANCE", "1"),
    ]
    assert txs[1]["security_id"] == txs[0]["security_id"] and "pre-money valuation of 0" in txs[1]["reason_text"]
    assert holdings(txs) == {"stakeholder-vc": 1}
    assert txs[2]["share_price"] == {"amount": "50", "currency": "USD"}


def two_rounds(run, tmp_path: Path, second_pre_money: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """acme's package after round one, 1 USD at a pre-money of 1 from vc (1 unit of 2), and round two, 1 USD at
    ``second_pre_money`` from b."""
    rounds = [("one", "2024-01-01", "1", "vc"), ("two", "2024-02-01", second_pre_money, "b")]
    text = "".join(
        json.dumps(
            {"kind": "round.closed", "effective": day, "company": "acme", "round": label, "amount": "1", "currency": "USD",
             "pre_money": pre, "investors": [{"party": investor, "amount": "1"}]}
        ) + "\n"
        for label, day, pre, investor in rounds
    )  # fmt: skip
    return export_ledger(run, tmp_path, text)


def test_a_price_without_a_finite_decimal_is_rounded_in_the_open(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Round 1: 1 USD at pre 1 gives vc 1 unit (total 2). Round 2: 1 USD at pre 3 gives b 2/3 unit.
    Counts {1, 1, 2/3}: scale 3, so founders 3, vc 3 shares for 1 USD (1/3 USD each, no finite decimal:
    0.3333333333 to OCF's ten places, said in a comment), b 2 shares at 0.5 USD. Fractions 3/8, 3/8, 2/8."""
    files = two_rounds(run, tmp_path, second_pre_money="3")
    txs = files["OCF_TRANSACTIONS_FILE"]
    assert [(t["quantity"], t["share_price"]["amount"]) for t in txs] == [("3", "0"), ("3", "0.3333333333"), ("2", "0.5")]
    assert txs[1]["cost_basis"] == {"amount": "1", "currency": "USD"}
    assert any("= 1/3 USD, rounded half-to-even" in c for c in txs[1]["comments"])
    assert not any("rounded" in c for c in txs[2].get("comments", []))


def test_a_price_too_small_for_ten_places_is_unknown_never_0_in_a_currency(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Round one: 1 USD at pre 1 gives vc 1 unit (total 2). Round two: 1 USD at pre 1000000000001 gives b
    2/1000000000001 unit: scale 1000000000001, so vc's 1 USD bought 1000000000001 shares, 1/1000000000001 USD each,
    below OCF's ten places. Such a price is written 0 XXX (unknown) with the exact price in a comment, and the
    class leaves its price out: 0 USD would pass for a price."""
    files = two_rounds(run, tmp_path, second_pre_money="1000000000001")
    txs = files["OCF_TRANSACTIONS_FILE"]
    [issued] = [t for t in txs if t.get("stakeholder_id") == "stakeholder-vc"]
    assert issued["share_price"] == {"amount": "0", "currency": "XXX"}
    assert (issued["quantity"], issued["cost_basis"]) == ("1000000000001", {"amount": "1", "currency": "USD"})
    assert any("below OCF's 10 decimal places: written 0 XXX" in c for c in issued["comments"])
    [seed] = [c for c in files["OCF_STOCK_CLASSES_FILE"] if c["name"] == "Round one"]
    assert "price_per_share" not in seed


# --- the exact numbers underneath -------------------------------------------------------------


def test_numeric_is_exact_or_refused() -> None:
    assert numeric(Decimal("1E+3"), "x") == "1000"
    assert numeric(Fraction(-5, 4), "x") == "-1.25"
    assert numeric(Fraction(1, 10**10), "x") == "0.0000000001"
    with pytest.raises(OcfError, match=r"^amount: 1/3 has no exact decimal form"):
        numeric(Fraction(1, 3), "amount")
    with pytest.raises(OcfError, match=r"0\.00000000001 has no exact decimal form of at most 10 places"):
        numeric(Decimal("0.00000000001"), "cost_basis")
    assert share_price(Decimal("100"), Fraction(8), "USD", "x") == ({"amount": "12.5", "currency": "USD"}, None)


@given(st.lists(st.fractions(min_value=Fraction(1, 10**6), max_value=10**6), min_size=1, max_size=8))
def test_the_share_scale_is_the_least_that_makes_every_count_whole(counts: list[Any]) -> None:
    scale = share_scale(Fraction(c) for c in counts)
    whole = [Fraction(c) * scale for c in counts]
    assert all(w.denominator == 1 for w in whole)
    assert math.gcd(*(w.numerator for w in whole)) == 1  # any smaller scale would leave a fraction of a share


def test_a_write_that_fails_part_way_leaves_the_folder_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.ocf import package

    folder = tmp_path / "ocf"
    package.write(package.Package("co", {"a.json": b"old a", "b.json": b"old b"}, 0, 0), folder)
    monkeypatch.setattr(package, "partial_file", _failing_on("b.json", package.partial_file))
    with pytest.raises(OcfError, match=rf"^{re.escape(str(folder))}: cannot write: No space left on device$"):
        package.write(package.Package("co", {"a.json": b"new a", "b.json": b"new b"}, 0, 0), folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {"a.json": b"old a", "b.json": b"old b"}  # and no temporaries


def test_a_move_that_fails_after_others_moved_puts_them_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The files go into place one rename at a time: when the last one cannot, those already moved get their
    earlier text back, and the error names the file that could not be written."""
    from ledger import outfolder
    from ledger.ocf import package

    folder = tmp_path / "ocf"
    package.write(package.Package("co", {"a.json": b"old a", "b.json": b"old b"}, 0, 0), folder)
    replace = outfolder._replace

    def failing(source: Path, target: Path) -> None:
        if target.name == "b.json":
            raise OSError(5, "Input/output error", str(target))
        replace(source, target)

    monkeypatch.setattr(outfolder, "_replace", failing)
    with pytest.raises(OcfError, match=rf"^{re.escape(str(folder / 'b.json'))}: cannot write: Input/output error$"):
        package.write(package.Package("co", {"a.json": b"new a", "b.json": b"new b"}, 0, 0), folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {"a.json": b"old a", "b.json": b"old b"}


def _failing_on(name: str, partial_file: Any) -> Any:
    """``partial_file`` that fails for file ``name``, as a full disk would: the error names the file of the run's own
    it could not make, which the message leaves to the folder."""

    def make(folder: Path, named: str) -> Any:
        if named == name:
            raise OSError(28, "No space left on device", str(folder / f".{named}.0badf00d.partial"))
        return partial_file(folder, named)

    return make


def test_the_issuer_and_names_are_those_of_the_moment_asked_about(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A party registered again later (a new name, a new country, a new parent) was not so at an earlier --as-of: the
    package of that moment names it as it was then, and its formation date stays its first registration's."""
    (tmp_path / "facts.jsonl").write_text(
        PARTIES
        + """\
{"kind": "round.closed", "effective": "2021-01-10", "company": "acme", "round": "seed", "amount": "100", "currency": "USD", \
"pre_money": "300", "investors": [{"party": "vc", "amount": "100"}]}
{"kind": "party.registered", "effective": "2024-01-01", "party": "acme", "name": "Acme Renamed", "type": "company", \
"jurisdiction": "GB"}
{"kind": "party.registered", "effective": "2025-01-01", "party": "vc", "name": "VC Renamed", "type": "investor"}
"""
    )
    assert run("append", "--file", "facts.jsonl").exit_code == 0
    for as_of, company, country, investor in (
        ("2020-06-30", "Acme", "US", None),  # before the seed: vc holds nothing yet
        ("2022-06-30", "Acme", "US", "VC Fund"),
        ("2025-06-30", "Acme Renamed", "GB", "VC Renamed"),
    ):
        result = run("export", "--format", "ocf", "--company", "acme", "--as-of", as_of, "--out", f"pkg-{as_of}")
        assert result.exit_code == 0, result.output
        files = validate_package(tmp_path / f"pkg-{as_of}")
        issuer = files["manifest"]["issuer"]
        assert (issuer["legal_name"], issuer["country_of_formation"]) == (company, country)
        assert issuer["formation_date"] == "2020-01-01"
        names = {s["id"]: s["name"]["legal_name"] for s in files["OCF_STAKEHOLDERS_FILE"]}
        assert names.get("stakeholder-vc") == investor
    umask = os.umask(0)
    os.umask(umask)
    assert {stat.S_IMODE(path.stat().st_mode) for path in (tmp_path / "pkg-2020-06-30").iterdir()} == {0o666 & ~umask}


def test_a_built_in_holder_has_no_cap_table_to_export(run, sample: Ledger, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("export", "--format", "ocf", "--company", "founders", "--out", "pkg")
    assert result.exit_code == 1
    assert result.output == "Error: --company: 'founders' is a built-in holder of shares, not a company\n"
    assert not (tmp_path / "pkg").exists()
