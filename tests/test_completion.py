"""Shell completion through click's protocol, as bash, zsh and fish ask for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main

from .conftest import DATA

CATALOGUE = str(DATA / "catalogue.jsonl")


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ledger holding the test catalogue, named by DEALLEDGER_URL as a user's shell would."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEALLEDGER_PLUGINS", raising=False)
    address = f"sqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("DEALLEDGER_URL", address)
    assert CliRunner().invoke(main, ["append", "--file", CATALOGUE]).exit_code == 0
    return address


def complete(line: str, shell: str = "bash") -> list[tuple[str, str]]:
    """What the shell would offer for ``line`` (the word being completed is its last, possibly empty)."""
    words = line.split(" ")
    env = {"_DEALLEDGER_COMPLETE": f"{shell}_complete", "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    result = CliRunner().invoke(main, [], env=env, prog_name="dealledger")
    assert result.exit_code == 0, result.output
    if shell == "bash":  # "type,value" lines
        return [tuple(item.split(",", 1)) for item in result.output.split()]  # type: ignore[misc]
    lines = result.output.splitlines()  # zsh: type, value, help, one line each
    return [(lines[i], lines[i + 1]) for i in range(0, len(lines), 3)]


def values(line: str, shell: str = "bash") -> list[str]:
    return [value for _, value in complete(line, shell)]


def test_commands_complete(url: str) -> None:
    assert values("dealledger v") == ["verify", "view"]
    assert values("dealledger ch") == ["check", "checkpoints"]
    assert "import" in values("dealledger ") and "replay" in values("dealledger ")


def test_options_and_their_choices_complete(url: str) -> None:
    assert {"--kind", "--party", "--as-of", "--known-at", "--format"} <= set(values("dealledger log --"))
    assert values("dealledger replay --format ") == ["table", "json", "csv"]
    assert values("dealledger view revenue --period q") == ["quarter"]
    assert {"--as-of", "--known-at", "--format", "--company"} <= set(values("dealledger view ownership --"))


def test_view_names_complete_including_plugin_views(url: str) -> None:
    builtin = values("dealledger view ")
    assert {"league", "ownership", "portfolio", "regulatory", "revenue"} <= set(builtin)
    assert "local-count" not in builtin
    assert values("dealledger --plugin tests.local_plugin view lo") == ["local-count"]
    assert values("dealledger view own") == ["ownership"]


def test_party_slugs_complete_from_the_named_ledger(url: str, tmp_path: Path) -> None:
    assert values("dealledger view ownership --company moon") == ["moonshot-ai"]
    assert values("dealledger log --party ten") == ["tencent"]
    assert set(values("dealledger view portfolio --investor ali")) == {"alibaba", "alibaba-cloud"}
    # --url on the command line wins over the environment: an empty ledger has nothing to offer
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert values(f"dealledger --url {other} log --party ten") == []


def test_a_built_in_holder_is_not_offered_as_a_company(url: str) -> None:
    assert "founders" not in values("dealledger view ownership --company f")
    assert "founders" in values("dealledger view portfolio --investor f")  # a holder, that one may ask about


def test_a_line_with_an_option_given_twice_still_completes(url: str) -> None:
    """The command refuses it when run; while it is being typed, it is completed as it stands."""
    assert values("dealledger view ownership --company x --company moon") == ["moonshot-ai"]
    assert values(f"dealledger --url {url} --url {url} log --party ten") == ["tencent"]


def test_zsh_gets_the_same_answers(url: str) -> None:
    assert complete("dealledger view ownership --company moon", "zsh") == [("plain", "moonshot-ai")]
    assert values("dealledger v", "zsh") == ["verify", "view"]


def test_completion_never_fails_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEALLEDGER_URL", "postgresql://nobody@127.0.0.1:1/none")  # nothing listens there
    assert values("dealledger log --party a") == []


def test_the_activation_scripts_name_the_program() -> None:
    for shell in ("bash", "zsh", "fish"):
        result = CliRunner().invoke(main, [], env={"_DEALLEDGER_COMPLETE": f"{shell}_source"}, prog_name="dealledger")
        assert result.exit_code == 0 and "_DEALLEDGER_COMPLETE" in result.output, shell
