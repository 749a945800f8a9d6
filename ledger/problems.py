"""What validation and checks report: problems, as values, never raised from plugins."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """Something wrong with the facts: a rejected batch, a failed assertion, a broken invariant.

    ``facts`` are the ids of the facts involved, so a user can find and correct them.
    ``plugin`` is filled in by the host with the name of the plugin that found it.
    """

    message: str
    facts: tuple[str, ...] = ()
    plugin: str = field(default="", compare=False)

    def __str__(self) -> str:
        by = f"[{self.plugin}] " if self.plugin else ""
        return f"{by}{self.message}"
