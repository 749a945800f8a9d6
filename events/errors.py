"""Errors raised while reading facts from their interchange form."""

from __future__ import annotations

from collections.abc import Iterable


class FactError(ValueError):
    """A fact is malformed.

    ``field`` is the dotted path of the offending field (``investors[1].amount``),
    so the message a user sees can point at the exact place to fix.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def within(self, prefix: str) -> FactError:
        """The same error, located inside the field ``prefix``."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        if self.field and self.field.startswith("["):
            field = f"{prefix}{self.field}"
        return FactError(self.message, field)

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def did_you_mean(word: str, known: Iterable[str], *, listing: str | None = None) -> str:
    """The one hint every "unknown name" error ends with: ``; did you mean 'x'?``.

    When nothing is close and ``listing`` names the known things (``"installed views"``), the
    hint lists them instead; otherwise it is empty.
    """
    names = sorted(set(known))
    close = closest(word, names)
    if close is not None:
        return f"; did you mean {close!r}?"
    if listing is not None and names:
        return f"; {listing}: {', '.join(names)}"
    return ""


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known name nearest to a mistyped one, for "did you mean" hints; None when nothing is close."""
    import difflib

    matches = difflib.get_close_matches(str(word), sorted(known), n=1, cutoff=0.6)
    return matches[0] if matches else None
