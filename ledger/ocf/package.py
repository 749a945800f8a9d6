"""One company's cap table as an OCF package: four JSON files and their manifest, checked, then written.

Everything is built and validated against the shipped schemas in memory first; the files are
written only when every one passes, each through a temporary file renamed into place, so a
failed export leaves the directory as it was. Bytes depend only on the ledger as known at
``known_at`` and the date asked: ``generated_at`` is the recorded time of the newest fact the
export reads, not the clock, so two exports of the same ledger are identical.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from events.parties import BUILT_IN_HOLDERS, PartyRegistered
from ledger.exact import Fraction, exact_decimals
from ledger.ocf.errors import OcfError
from ledger.ocf.history import Issued, Moved, movements, ownership_records
from ledger.ocf.mapping import NOTIONAL, Securities, stakeholder, stock_classes
from ledger.ocf.numeric import share_scale
from ledger.ocf.schemas import file_problems, ocf_version
from ledger.outfolder import let_go, partial_file, put_in_place, sweep
from ledger.timeline import story

if TYPE_CHECKING:
    from ledger.api import Ledger

Json = dict[str, Any]

FILES = {
    "stakeholders": ("Stakeholders.ocf.json", "OCF_STAKEHOLDERS_FILE"),
    "stock_classes": ("StockClasses.ocf.json", "OCF_STOCK_CLASSES_FILE"),
    "transactions": ("Transactions.ocf.json", "OCF_TRANSACTIONS_FILE"),
}
MANIFEST = "Manifest.ocf.json"


@dataclass(frozen=True)
class Package:
    """The files of one export, by name, as the bytes to write."""

    company: str
    files: dict[str, bytes]
    stakeholders: int
    transactions: int


def build(ledger: Ledger, company: str, as_of: date | None = None, known_at: datetime | None = None) -> Package:
    """The package of ``company``'s cap table at (as_of, known_at), validated; raises ``OcfError`` when it cannot be exact."""
    head = ledger.store.known_position(known_at)  # one ledger for every read of the package
    every = [r.fact for r in ledger.registrations(None, head=head) if isinstance(r.fact, PartyRegistered)]  # by date
    own = [fact for fact in every if fact.party == company]  # registered as the ledger stood then (retracted since, too)
    if not own:
        ledger.require_party("--company", company)  # not even registered now: refused, naming the closest slug
    if company in BUILT_IN_HOLDERS:
        raise OcfError(f"--company: {company!r} is a built-in holder of shares, not a company")
    if not own:
        when = f" at --known-at {known_at.isoformat()}" if known_at else ""
        raise OcfError(f"--company: {company!r} was not yet registered{when}")
    first = own[0].effective
    records = ledger.store.records(head)
    facts = story(records, as_of=as_of)
    owned = ownership_records(facts, company)
    founded = min([first, *(r.effective for r in owned[:1])])  # a later registration renames: it founds nothing
    registrations = _in_force(every, as_of)  # names and the issuer as they stood at the moment asked about
    registration = registrations.get(company) or own[0]  # facts about it before its registration: its first one
    moment = as_of or max((r.effective for r in facts), default=founded)
    if moment < founded:
        raise OcfError(f"--as-of {moment.isoformat()}: before {company}'s first fact ({founded.isoformat()})")
    with exact_decimals():
        moves, _ = movements(owned, company, founded)
        securities = Securities(share_scale(m.count for m in moves if isinstance(m, Issued | Moved)))
        for move in moves:
            securities.apply(move)
        names = {fact.party: fact.name for fact in reversed(every)}  # a holder registered only later: its first name
        names.update((party, fact.name) for party, fact in registrations.items())  # else its name at the moment
        contents = {
            "stakeholders": [stakeholder(holder, names) for holder in securities.holders],
            "stock_classes": stock_classes(moves, securities),
            "transactions": securities.transactions,
        }
    issuer = _issuer(registration, founded, securities.scale)
    documents = {name: {"file_type": kind, "items": contents[key]} for key, (name, kind) in FILES.items()}
    files = {name: _encode(document) for name, document in documents.items()}
    manifest: Json = {
        "ocf_version": ocf_version(),
        "file_type": "OCF_MANIFEST_FILE",
        "issuer": issuer,
        "as_of": moment.isoformat(),
        "generated_at": records[-1].recorded.isoformat(),
        "comments": [f"{company}'s cap table as the ledger knew it at its fact #{records[-1].seq}"],
        "stock_plans_files": [],
        "stock_legend_templates_files": [],
        "vesting_terms_files": [],
        "valuations_files": [],
    }
    for key, (name, _) in FILES.items():
        manifest[f"{key}_files"] = [{"filepath": name, "md5": hashlib.md5(files[name], usedforsecurity=False).hexdigest()}]
    documents[MANIFEST] = manifest
    for name, document in documents.items():
        found = file_problems(document)
        if found:
            raise OcfError(f"{company}: {name} breaks the OCF schema at {found[0]}")
    files[MANIFEST] = _encode(manifest)
    return Package(company, files, len(contents["stakeholders"]), len(contents["transactions"]))


def _in_force(registrations: list[PartyRegistered], as_of: date | None) -> dict[str, PartyRegistered]:
    """Each party's registration in force at ``as_of`` (the latest on or before it; ``registrations`` come in
    effective order)."""
    return {fact.party: fact for fact in registrations if as_of is None or fact.effective <= as_of}


def _issuer(fact: PartyRegistered, founded: date, scale: Fraction) -> Json:
    if not fact.jurisdiction:
        raise OcfError(
            f"--company: {fact.party}'s registration has no jurisdiction, which OCF requires as country_of_formation; "
            "correct its party.registered fact with one"
        )
    return {
        "id": f"issuer-{fact.party}",
        "object_type": "ISSUER",
        "legal_name": fact.name,
        "formation_date": founded.isoformat(),
        "country_of_formation": fact.jurisdiction,
        "comments": [
            "formation_date is the earliest date the ledger knows the company by (its registration or first ownership "
            "fact), not necessarily its founding date",
            f"{NOTIONAL} One ledger unit (the founders' whole holding before the first ownership fact) is {scale} shares.",
        ],
    }


def _encode(document: Json) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write(package: Package, out: str | os.PathLike[str]) -> list[Path]:
    """Write every file into ``out`` (created if missing), all or none (``ledger.outfolder``): each is written whole
    beside its place first, and only when every one is written are they moved into place together, so a failure
    or an interruption leaves the folder as it was, never old files beside new ones."""
    folder = Path(out)
    partials: dict[str, Path] = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        sweep(folder)  # what a run killed outright left behind
        for name, data in package.files.items():
            partials[name] = partial_file(folder, name)
            with partials[name].open("wb") as stream:
                stream.write(data)
        put_in_place([(partials[name], folder / name) for name in package.files])
    except OSError as error:  # named by the file it was about when that is one of the package's, else the folder
        targets = {str(folder / name) for name in package.files}
        where = error.filename if error.filename in targets else out
        raise OcfError(f"{where}: cannot write: {error.strerror or error}") from None
    finally:
        for path in partials.values():
            let_go(path)  # those not moved: a failure's, or an interruption's
    return [folder / name for name in package.files]
