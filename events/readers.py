"""Reading facts from files, one at a time, with the line each came from.

Files are streamed: a reader yields ``(line, mapping)`` pairs and never holds the whole
file, so a million-fact import does not first sit in memory as text. Numbers are read
as ``Decimal`` (never float), so money stays exact from the first byte.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

FORMATS = ("jsonl", "yaml", "csv")


class SourceError(ValueError):
    """Bad input at a place in a file: ``path:line: field: message``."""

    def __init__(self, path: str, line: int | None, message: str, field: str | None = None) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        place = f"{path}:{line}" if line is not None else path
        super().__init__(f"{place}: {field}: {message}" if field else f"{place}: {message}")


def guess_format(path: str, head: str = "") -> str:
    """The interchange format from a file name, or from the first characters for stdin."""
    lowered = path.lower()
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    if lowered.endswith(".csv"):
        return "csv"
    lines = [line.strip() for line in head.splitlines()]
    stripped = "\n".join(line for line in lines if line and not line.startswith("#"))
    if stripped.startswith("{"):
        return "jsonl"
    first_line = stripped.split("\n", 1)[0]
    if "," in first_line and "kind" in first_line and ":" not in first_line:
        return "csv"
    return "yaml"


def read_facts(stream: IO[str], path: str, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line, mapping)`` for each fact in ``stream``; ``SourceError`` on malformed text."""
    if fmt == "jsonl":
        return _read_jsonl(stream, path)
    if fmt == "csv":
        return _read_csv(stream, path)
    if fmt == "yaml":
        return _read_yaml(stream, path)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


class DuplicateFieldError(ValueError):
    """A fact names the same field twice: which value was meant cannot be known."""


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    mapping = dict(pairs)
    if len(mapping) != len(pairs):
        seen: set[str] = set()
        repeated = next(name for name, _ in pairs if name in seen or seen.add(name))  # type: ignore[func-returns-value]
        raise DuplicateFieldError(repeated)
    return mapping


def _read_jsonl(stream: IO[str], path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    decoder = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=_no_repeats)
    for number, line in enumerate(stream, start=1):
        text = line.lstrip("\ufeff").strip() if number == 1 else line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            value = decoder.decode(text)
        except json.JSONDecodeError as error:
            raise SourceError(path, number, f"not valid JSON ({error.msg} at column {error.colno})") from None
        except DuplicateFieldError as error:
            raise SourceError(path, number, "the field is given twice", str(error)) from None
        if not isinstance(value, dict):
            raise SourceError(path, number, "each line must be one JSON object (a fact)")
        yield number, value


def _cell(text: str) -> Any:
    """A CSV cell: nested lists and objects may be written as JSON."""
    stripped = text.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped, parse_float=Decimal)
        except json.JSONDecodeError:
            return stripped
    return stripped


def _read_csv(stream: IO[str], path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
        while header is not None and (not header or header[0].lstrip("\ufeff").startswith("#")):
            header = next(reader, None)  # blank or comment lines before the header
        if header is None:
            return
        header = [name.strip().lstrip("\ufeff") for name in header]
        if "kind" not in header:
            raise SourceError(path, 1, "the header has no 'kind' column")
        repeated = sorted({name for name in header if header.count(name) > 1 and name})
        if repeated:
            raise SourceError(path, 1, f"the header names {', '.join(repeated)} more than once")
        while True:
            before = reader.line_num
            row = next(reader, None)
            if row is None:
                return
            if not row:  # a blank line
                continue
            # the row starts on the first line not yet read (blank lines before it were skipped above)
            start = before + 1
            if len(row) > len(header):
                raise SourceError(path, start, f"more cells than the header's {len(header)} columns")
            fact = {name: _cell(value) for name, value in zip(header, row, strict=False) if value.strip() != ""}
            if fact:
                yield start, fact
    except csv.Error as error:
        raise SourceError(path, reader.line_num, f"not valid CSV ({error})") from None


def _read_yaml(stream: IO[str], path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """A YAML list of facts, or one fact per document (``---``); numbers stay exact."""
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        for document in yaml.compose_all(stream, Loader=loader_class):
            if document is None or (isinstance(document, yaml.ScalarNode) and document.tag.endswith(":null")):
                continue  # an empty document (``---`` with nothing after it) holds no fact
            nodes = document.value if isinstance(document, yaml.SequenceNode) else [document]
            for node in nodes:
                line = node.start_mark.line + 1
                if not isinstance(node, yaml.MappingNode):
                    raise SourceError(path, line, "each fact must be a mapping of fields")
                try:
                    yield line, _construct(node, loader_class)
                except _YamlShapeError as error:
                    raise SourceError(path, error.line, error.message, error.field) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise SourceError(path, line, f"not valid YAML ({getattr(error, 'problem', None) or error})") from None
    except RecursionError:
        raise SourceError(path, None, "not valid YAML for facts (an alias refers to itself)") from None


class _YamlShapeError(ValueError):
    def __init__(self, line: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.line, self.message, self.field = line, message, field


def _construct(node: Any, loader_class: type) -> dict[str, Any]:
    """Build one mapping, keeping numbers as Decimal and dates as text."""
    import yaml

    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise _YamlShapeError(line, "a field name must be plain text")
            if key_node.value in mapping:
                raise _YamlShapeError(line, "the field is given twice", key_node.value)
            mapping[key_node.value] = _construct(value_node, loader_class)
        return mapping  # type: ignore[return-value]
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, loader_class) for item in node.value]  # type: ignore[return-value]
    tag = node.tag
    if tag.endswith((":int", ":float")):
        try:
            return Decimal(node.value.replace("_", ""))  # type: ignore[return-value]
        except ArithmeticError:
            return node.value  # type: ignore[no-any-return]
    if tag.endswith(":bool"):
        # Kept as written: YAML 1.1 reads NO (Norway) and yes as booleans; the field's codec decides.
        return node.value  # type: ignore[no-any-return]
    if tag.endswith(":null"):
        return None  # type: ignore[return-value]
    return node.value  # type: ignore[no-any-return]
