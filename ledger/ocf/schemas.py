"""The OCF JSON schemas shipped with dealledger, and validation against them without any network.

``schemas/schema`` holds, unchanged, the files of the Open Cap Table Format that the four
files an export writes refer to (manifest, stakeholders, stock classes, transactions, and
everything their ``$ref`` reach), with the format's LICENSE.md and SOURCE.md beside them.
Every ``$ref`` is a full URL; a ``referencing`` registry built from the shipped files
resolves each one locally, so validation never fetches anything.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

FILE_SCHEMAS = {
    "OCF_MANIFEST_FILE": "files/OCFManifestFile.schema.json",
    "OCF_STAKEHOLDERS_FILE": "files/StakeholdersFile.schema.json",
    "OCF_STOCK_CLASSES_FILE": "files/StockClassesFile.schema.json",
    "OCF_TRANSACTIONS_FILE": "files/TransactionsFile.schema.json",
}


@cache
def documents() -> dict[str, dict[str, Any]]:
    """Every shipped schema by its path under ``schema/`` (``files/OCFManifestFile.schema.json``)."""
    root = resources.files("ledger.ocf") / "schemas" / "schema"
    found: dict[str, dict[str, Any]] = {}
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                stack.append((entry, f"{prefix}{entry.name}/"))
            elif entry.name.endswith(".schema.json"):
                found[f"{prefix}{entry.name}"] = json.loads(entry.read_text(encoding="utf-8"))
    return found


@cache
def registry() -> Any:
    """A registry of every shipped schema under its ``$id``; anything else is unresolvable, never fetched."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT7

    return Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7)) for schema in documents().values()
    )


@cache
def object_schemas() -> dict[str, str]:
    """The schema path of each concrete ``object_type`` (``TX_STOCK_ISSUANCE`` -> its file)."""
    found = {}
    for path, schema in documents().items():
        const = schema.get("properties", {}).get("object_type", {}).get("const")
        if const:
            found[const] = path
    return found


def ocf_version() -> str:
    """The version the shipped manifest schema requires: written as is, never typed by hand."""
    return str(documents()[FILE_SCHEMAS["OCF_MANIFEST_FILE"]]["properties"]["ocf_version"]["const"])


@cache
def validator(path: str) -> Any:
    """The validator of the schema at ``path``, built once: it keeps what it has resolved."""
    from jsonschema import Draft7Validator

    return Draft7Validator(documents()[path], registry=registry(), format_checker=Draft7Validator.FORMAT_CHECKER)


def problems(instance: Any, path: str) -> list[str]:
    """Every way ``instance`` breaks the schema at ``path`` (dates checked as dates), one line each."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator(path).iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]


def file_problems(document: dict[str, Any]) -> list[str]:
    """A file's problems: the file without its items against its own schema, then each item against its type's schema.

    Checking each item against the schema of its own ``object_type`` is what the file's
    ``items`` schema asks, and far cheaper: the transactions file's ``oneOf`` tries every
    transaction type on every item, while each concrete schema fixes its ``object_type`` by a
    ``const``, so an item valid against its own type's schema matches no other alternative. It
    also catches the few types that ``oneOf`` leaves out, and says which field is wrong.
    """
    found = problems({**document, "items": []} if "items" in document else document, FILE_SCHEMAS[document["file_type"]])
    for index, item in enumerate(document.get("items", [])):
        path = object_schemas().get(item.get("object_type", ""))
        if path is None:
            found.append(f"items/{index}: no schema for object_type {item.get('object_type')!r}")
            continue
        found.extend(f"items/{index}/{problem}" for problem in problems(item, path))
    return found
