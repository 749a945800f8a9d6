"""The API reference of ``ledger.plugin`` is generated (pdoc) and documents every supported name."""

from __future__ import annotations

from pathlib import Path

import pdoc

import ledger.plugin


def test_the_reference_documents_every_exported_name(tmp_path: Path) -> None:
    pdoc.pdoc("ledger.plugin", output_directory=tmp_path)
    page = (tmp_path / "ledger" / "plugin.html").read_text(encoding="utf-8")
    modules = {"HOOKS", "fields"}  # modules: linked and described in the module's own text
    missing = [name for name in ledger.plugin.__all__ if name not in modules and f'id="{name}"' not in page]
    assert missing == []
    assert "dealledger_validate" in page or "HOOKS" in page
