"""Groups: a parent and its subsidiaries answer together in portfolio and league, as their parent links stand."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from cli import main
from ledger.plugin import Parties
from plugins.league import LeagueView
from plugins.portfolio import PortfolioView
from tests.facts import bought
from tests.viewkit import party, records, rows

D = Decimal

PARTIES = [
    party("alibaba", "company"),
    party("alibaba-cloud", "cloud", parent="alibaba"),
    party("taobao-china", "investor", parent="alibaba"),
    party("tencent", "company"),
    party("xpeng", sectors=["ev"]),
    party("moonshot-ai", sectors=["ai"]),
    party("zhipu-ai", sectors=["ai"]),
]


def round_in(company: str, day: str, investors: list[dict[str, Any]], amount: str, post: str) -> dict[str, Any]:
    return {
        "kind": "round.closed",
        "effective": day,
        "company": company,
        "round": day,
        "amount": amount,
        "currency": "USD",
        "post_money": post,
        "investors": investors,
    }


STORY = [
    *PARTIES,
    bought("taobao-china", "xpeng", "2020-08-27", "0.102", price="100"),
    bought("alibaba", "xpeng", "2021-01-01", "0.05", price="80"),
    # 100 at 1000 post: alibaba 50/1000 = 0.05, alibaba-cloud (credits) 30/1000 = 0.03.
    round_in(
        "moonshot-ai",
        "2024-02-15",
        [{"party": "alibaba", "amount": "50"}, {"party": "alibaba-cloud", "amount": "30", "consideration": "credits"}],
        "100",
        "1000",
    ),
    round_in("zhipu-ai", "2023-10-20", [{"party": "tencent", "amount": "40"}], "40", "400"),
]


def test_parties_know_a_groups_members_and_who_sits_under_whom() -> None:
    parties = Parties()
    for record in records(PARTIES):
        parties.add(record.fact)  # type: ignore[arg-type]
    assert parties.members("alibaba") == ["alibaba", "alibaba-cloud", "taobao-china"]
    assert parties.members("taobao-china") == ["taobao-china"]
    assert parties.within("taobao-china", "alibaba") and not parties.within("alibaba", "taobao-china")
    assert parties.root("alibaba-cloud") == "alibaba"


SLUGS = ("a", "b", "c", "d", "e")


@given(
    st.lists(
        st.tuples(st.sampled_from(SLUGS), st.none() | st.sampled_from(SLUGS)).filter(lambda link: link[0] != link[1]),
        max_size=20,
    )
)
def test_a_groups_members_are_the_parties_whose_chain_of_parents_passes_through_it(links: list[tuple[str, str | None]]) -> None:
    # Registrations re-link parties at random (loops included); members, read through the children
    # index and its cache, always equal the parties whose chain of parents reaches the top.
    parties = Parties()
    for slug, parent in links:
        before = parties.parent.get(slug)
        changed = parties.add(records([party(slug, parent=parent) if parent else party(slug)])[0].fact)  # type: ignore[arg-type]
        assert changed == (before != parent)
        for top in SLUGS:
            expected = sorted({top, *(p for p in parties.sectors if parties.within(p, top))})
            assert parties.members(top) == expected


def test_a_parents_portfolio_with_group_includes_its_subsidiaries_stakes() -> None:
    # Without --group, alibaba's own portfolio misses taobao-china's xpeng stake and alibaba-cloud's moonshot line.
    alone = {row["company"]: row["fraction"] for row in rows(PortfolioView(), STORY, investor="alibaba")}
    assert alone == {"moonshot-ai": Fraction(5, 100), "xpeng": Fraction(5, 100)}
    found = rows(PortfolioView(), STORY, investor="alibaba", group=True)
    assert [(r["company"], r["fraction"], r["invested"], r["cost"], r["held_by"]) for r in found] == [
        # moonshot-ai: 0.05 + 0.03 = 0.08, paid 50 + 30 = 80.
        ("moonshot-ai", Fraction(8, 100), D(80), D(80), "alibaba, alibaba-cloud"),
        # xpeng: 0.102 + 0.05 = 0.152, paid 100 + 80 = 180.
        ("xpeng", Fraction(152, 1000), D(180), D(180), "alibaba, taobao-china"),
    ]
    # Any member answers for the same group: the ultimate parent's.
    assert rows(PortfolioView(), STORY, investor="taobao-china", group=True) == found


def test_group_answer_equals_the_sum_of_its_entities_answers() -> None:
    by_entity = rows(PortfolioView(), STORY, investor="alibaba", group=True, by_entity=True)
    assert [(r["held_by"], r["company"], r["fraction"]) for r in by_entity] == [
        ("alibaba", "moonshot-ai", Fraction(5, 100)),
        ("alibaba", "xpeng", Fraction(5, 100)),
        ("alibaba-cloud", "moonshot-ai", Fraction(3, 100)),
        ("taobao-china", "xpeng", Fraction(102, 1000)),
    ]
    consolidated = rows(PortfolioView(), STORY, investor="alibaba", group=True)
    for row in consolidated:
        parts = [r for r in by_entity if r["company"] == row["company"]]
        assert row["fraction"] == sum((r["fraction"] for r in parts), Fraction(0))
        assert row["invested"] == sum(r["invested"] for r in parts)


def test_league_with_group_makes_one_row_for_the_group_named_by_its_ultimate_parent() -> None:
    found = rows(LeagueView(), STORY, group=True)
    assert [(r["investor"], r["deals"], r["cash"], r["credits"], r["total"], r["rank"], r["entities"]) for r in found] == [
        # alibaba group: xpeng twice (taobao-china 100, alibaba 80) and one moonshot round (50 cash + 30 credits): 3 deals, 260.
        ("alibaba", 3, D(230), D(30), D(260), 1, "alibaba, alibaba-cloud, taobao-china"),
        ("tencent", 1, D(40), D(0), D(40), 2, "tencent"),
    ]
    # Without --group, taobao-china is a row of its own.
    assert [r["investor"] for r in rows(LeagueView(), STORY)] == ["alibaba", "taobao-china", "tencent", "alibaba-cloud"]


def test_a_parent_change_moves_a_subsidiary_between_groups() -> None:
    # From 2024-06-01 taobao-china is registered again without a parent: it has left the group.
    moved = [*STORY, party("taobao-china", "investor") | {"effective": "2024-06-01"}]
    before = rows(PortfolioView(), moved, investor="alibaba", group=True, as_of=date(2024, 5, 31))
    after = rows(PortfolioView(), moved, investor="alibaba", group=True)
    assert [r["fraction"] for r in before if r["company"] == "xpeng"] == [Fraction(152, 1000)]
    assert [r["fraction"] for r in after if r["company"] == "xpeng"] == [Fraction(5, 100)]
    assert [r["investor"] for r in rows(LeagueView(), moved, group=True)] == ["alibaba", "taobao-china", "tencent"]


def test_the_sample_storys_headline_is_alibabas_group_ahead_of_named_co_investors() -> None:
    story_file = Path(__file__).parent.parent / "examples" / "story.jsonl"
    facts = [json.loads(line) for line in story_file.read_text(encoding="utf-8").splitlines()]
    found = rows(LeagueView(), facts, sector="china-ai", currency="USD", group=True)
    head, *field = found
    # Alibaba: 410M cash + 390M credits (Moonshot 2024-02) + 341.5M (MiniMax) + CNY 438M / 7.30 = 60M (Zhipu)
    # = 1,201.5M over 4 deals, one of them (Moonshot 2024-08) without a reported amount.
    assert (head["investor"], head["deals"], head["total"], head["undisclosed_deals"], head["rank"]) == (
        "alibaba",
        4,
        D("1201500000.00"),
        1,
        1,
    )
    named = {row["investor"] for row in field}
    assert {"tencent", "hongshan", "meituan", "ant-group", "xiaomi", "hillhouse", "gaorong", "monolith"} <= named
    assert all(row["total"] is None and row["rank"] is None for row in field)  # undisclosed, never 0


def test_the_command_line_takes_group_and_split_as_switches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEALLEDGER_URL", raising=False)
    monkeypatch.delenv("DEALLEDGER_PLUGINS", raising=False)
    (tmp_path / "facts.jsonl").write_text("".join(json.dumps(fact) + "\n" for fact in STORY), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["append", "--file", "facts.jsonl"]).exit_code == 0
    result = runner.invoke(main, ["view", "league", "--group", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [(row["investor"], row["total"], row["entities"]) for row in json.loads(result.output)] == [
        ("alibaba", "260", "alibaba, alibaba-cloud, taobao-china"),
        ("tencent", "40", "tencent"),
    ]
    result = runner.invoke(main, ["view", "portfolio", "--investor", "alibaba", "--group", "--by-entity", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith(",cost,proceeds,realised_gain,held_by")
    # A round naming a participant without an amount that is also listed with one is refused, nothing written.
    bad = round_in("zhipu-ai", "2024-01-01", [{"party": "tencent", "amount": "1"}, {"party": "tencent"}], "10", "100")
    (tmp_path / "bad.jsonl").write_text(json.dumps(bad) + "\n", encoding="utf-8")
    result = runner.invoke(main, ["append", "--file", "bad.jsonl"])
    assert result.exit_code == 1
    assert "bad.jsonl:1" in result.output and "'tencent' is listed twice" in result.output
    assert len(json.loads(runner.invoke(main, ["log", "--format", "json"]).output)) == len(STORY)


def test_a_groups_row_keeps_the_proceeds_of_an_entity_that_sold_out() -> None:
    # taobao-china sells all its xpeng (0.102, cost 100) for 130 while alibaba keeps its 0.05 (cost 80).
    sale = {
        "kind": "stake.divested",
        "effective": "2024-03-20",
        "holder": "taobao-china",
        "company": "xpeng",
        "portion": "1",
        "proceeds": "130",
        "currency": "USD",
    }
    [row] = [r for r in rows(PortfolioView(), [*STORY, sale], investor="alibaba", group=True) if r["company"] == "xpeng"]
    # fraction 0.05; invested 100 + 80 = 180; cost kept 80; proceeds 130; gain 130 - 100 = 30; only alibaba still holds.
    assert (row["fraction"], row["invested"], row["cost"], row["proceeds"], row["realised_gain"], row["held_by"]) == (
        Fraction(5, 100),
        D(180),
        D(80),
        D(130),
        D(30),
        "alibaba",
    )
