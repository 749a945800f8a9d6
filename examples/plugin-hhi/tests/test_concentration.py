"""The concentration view: by hand on a small cap table, and installed for real through its entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from dealledger_hhi import ConcentrationView

from events import Catalogue
from ledger.records import Recorded
from ledger.timeline import story
from ledger.views import Query, fold

HERE = Path(__file__).resolve().parent.parent
ROOT = HERE.parent.parent
FACTS = [
    {"kind": "party.registered", "effective": "2020-01-01", "party": "alibaba", "name": "Alibaba", "type": "investor"},
    {"kind": "party.registered", "effective": "2020-01-01", "party": "moonshot-ai", "name": "Moonshot", "type": "company"},
    # founders 1 -> alibaba 0.25, founders 0.75 (HHI 0.625)
    {
        "kind": "round.closed",
        "effective": "2024-02-01",
        "company": "moonshot-ai",
        "round": "a",
        "amount": "25",
        "currency": "USD",
        "pre_money": "75",
        "investors": [{"party": "alibaba", "amount": "25"}],
    },
    # alibaba buys 0.25 more from founders -> 0.5 / 0.5 (HHI 0.5)
    {
        "kind": "stake.acquired",
        "effective": "2024-06-01",
        "holder": "alibaba",
        "company": "moonshot-ai",
        "fraction": "0.25",
        "seller": "founders",
    },
]


def records() -> list[Recorded]:
    from datetime import UTC, datetime, timedelta

    catalogue = Catalogue()
    start = datetime(2025, 1, 1, tzinfo=UTC)
    return [Recorded(f"f{n}", n, start + timedelta(seconds=n), catalogue.parse(d)) for n, d in enumerate(FACTS, 1)]


def rows(as_of: str | None = None) -> list[dict[str, object]]:
    from datetime import date

    query = Query(as_of=date.fromisoformat(as_of) if as_of else None)
    view = ConcentrationView()
    return view.rows(fold(view, story(records(), as_of=query.as_of), query), query)


def test_hhi_by_hand() -> None:
    assert rows("2024-03-01") == [{"company": "moonshot-ai", "hhi": Decimal("0.625000"), "holders": 2}]
    assert rows() == [{"company": "moonshot-ai", "hhi": Decimal("0.500000"), "holders": 2}]


def test_a_company_with_no_ownership_fact_has_no_row() -> None:
    assert rows("2024-01-01") == []


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip-install the distribution for real (no network: no dependencies, no build isolation)."""
    target = tmp_path_factory.mktemp("site")
    source = tmp_path_factory.mktemp("source") / "plugin-hhi"  # a copy: building leaves files behind
    shutil.copytree(HERE, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "__pycache__"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
    )
    assert (target / "dealledger_hhi" / "__init__.py").exists()
    return target


def dealledger(site: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command line in a fresh process that sees the installed plugin only through its entry point."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "DEALLEDGER_PLUGINS": ""}
    env.pop("DEALLEDGER_URL", None)
    return subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", *args], cwd=folder, env=env, capture_output=True, text=True
    )


def test_installed_plugin_works_like_a_built_in_view(installed: Path, tmp_path: Path) -> None:
    facts = tmp_path / "facts.jsonl"
    facts.write_text("".join(json.dumps(f) + "\n" for f in FACTS))
    appended = dealledger(installed, tmp_path, "append", "--file", str(facts))
    assert appended.returncode == 0, appended.stderr
    listed = dealledger(installed, tmp_path, "plugins", "--format", "json")
    views = {row["name"]: row["plugin"] for row in json.loads(listed.stdout) if row["type"] == "view"}
    assert views["concentration"] == "hhi"
    then = dealledger(installed, tmp_path, "view", "concentration", "--as-of", "2024-03-01", "--format", "json")
    assert json.loads(then.stdout) == [{"company": "moonshot-ai", "hhi": "0.625000", "holders": 2}]
    now = dealledger(installed, tmp_path, "view", "concentration", "--company", "moonshot-ai", "--format", "csv")
    assert now.stdout == "company,hhi,holders\nmoonshot-ai,0.500000,2\n"
    before_anything = dealledger(installed, tmp_path, "view", "concentration", "--known-at", "2000-01-01")
    assert before_anything.returncode == 0 and before_anything.stdout == "(no rows)\n"
