"""View states saved along the effective-date axis, so a question folds only the facts after one.

A checkpoint is a view's state after folding the story *as known at position H* up to
effective date E (its *cut*). It answers a question ``(as_of A, known head P)`` exactly iff
``E <= A``, ``H <= P`` and no fact stored in ``(H, P]`` can change anything on or before E
(its *touch*, kept in the index, is after E). Old checkpoints are never wrong, only bounded:
they keep serving ``--known-at`` questions about the past.

Checkpoints are derived data and must not become a back door: each carries the chain hash
of the fact at H (a checkpoint whose ledger was rewritten under it is ignored) and a digest
of its bytes (a damaged one is dropped and rebuilt). States are encoded exactly (``Fraction``
and ``Decimal`` round-trip) with pickle, read back by an unpickler that builds only the
classes a view's state may hold, and versioned by the view's ``state_version``: a plugin
upgrade that changes its state shape bumps it, and the old checkpoints are never read.

A large state is pickled by a forked child while this process goes on (``ledger.background``);
its rows are written here once the child is done, before any other read or write of this table
and when the ledger closes, so this process never sees the table without them.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import pickle
import struct
import sys
import tempfile
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from typing import IO, TYPE_CHECKING, Any

from ledger.anchors import KEEP_ANCHORS, is_quarter_end
from ledger.background import Pickling, pickle_apart, signals_held
from ledger.folds.parts import PARTED, from_parts, reading_parts, spool_parts
from ledger.persistence import CHECKPOINTS_TABLE, refused_as, unless_refused, write_derived
from ledger.persistence.blobs import InMemory, Spooled, Stored, digest_of
from ledger.stopping import told_to_stop
from ledger.views import Query, fold_class, fold_name

if TYPE_CHECKING:
    from ledger.store import Store
    from ledger.views import View

KEEP = 12
"""Checkpoints kept per view: enough for the dates people ask about again, bounded in space."""
SAFE_CLASSES = {
    ("fractions", "Fraction"),
    ("quicktions", "Fraction"),
    ("decimal", "Decimal"),
    ("datetime", "date"),
    ("datetime", "datetime"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("collections", "deque"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("collections", "Counter"),
    ("builtins", "set"),
    ("builtins", "list"),  # as a defaultdict's factory, as the others: types, which build only their own values
    ("builtins", "dict"),
    ("builtins", "tuple"),
    ("builtins", "int"),
    ("builtins", "frozenset"),
    ("builtins", "bytearray"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
}
"""Standard classes a state may hold besides the view's own and the fact classes."""


class CheckpointError(Exception):
    """A checkpoint that cannot be trusted: it is dropped and the answer is folded without it."""


class _StateUnpickler(pickle.Unpickler):
    """Builds only safe standard classes and classes *defined* in the packages the view names: never a function.

    A name must be a plain name in its module (pickle would otherwise follow ``io.FileIO`` from any
    module that imported ``io``), and the class found must come from an allowed package (a
    module of one may have imported a class from anywhere)."""

    def __init__(self, data: bytes | memoryview, packages: tuple[str, ...], side: _Side | None = None) -> None:
        super().__init__(io.BytesIO(data))
        self.packages = packages
        self.side = side
        self.parted: dict[int, tuple[Any, Any]] = {}
        """Each container read back, by the id of the persistent id naming it (kept, with it, while the pickle loads)."""

    def persistent_load(self, pid: Any) -> Any:
        """A container saved in parts beside the pickle (``encode``): its class, restricted as any other, and where
        each part lies in the side part, read one at a time as the container is filled."""
        seen = self.parted.get(id(pid))  # the same id named again (checked once: an id may name many parts)
        if seen is not None and seen[0] is pid:
            return seen[1]
        if self.side is None or not _is_parted_id(pid):
            raise CheckpointError("a checkpoint names a part it does not hold")
        kind = self.find_class(pid[0], pid[1])
        if kind not in PARTED:
            raise CheckpointError(f"a checkpoint saves {pid[0]}.{pid[1]} in parts, which only a parted container is")
        found = from_parts(kind, (self.side.read(offset, length) for offset, length in pid[2]))
        self.parted[id(pid)] = (pid, found)
        return found

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in SAFE_CLASSES:
            return super().find_class(module, name)
        if "." not in name and module.split(".")[0] in self.packages and _may_hold(module):
            found = super().find_class(module, name)
            defined = str(getattr(found, "__module__", ""))
            if isinstance(found, type) and defined.split(".")[0] in self.packages and _may_hold(defined):
                return found
        raise CheckpointError(f"a checkpoint names {module}.{name}, which a view state may not hold")


_DELETE_ONE = f"DELETE FROM {CHECKPOINTS_TABLE} WHERE view = ? AND state_version = ? AND cut = ? AND head = ?"
"""One checkpoint let go, by its key (view, state version, cut, head)."""


STATE_MODULES = (
    "ledger.folds",
    "ledger.records",
    "ledger.problems",
    "ledger.exact",
    "events.base",
    "events.funding",
    "events.cloud",
    "events.parties",
    "events.markets",
    "events.regulation",
    "events.corrections",
)
"""The modules of the ledger's own packages whose classes a state may hold: the folds' building blocks, recorded
facts and problems, and the fact classes. The packages also hold classes that open stores, files and plugins when
made (``ledger.api.Ledger``, ``ledger.notebook.Notebook``): a checkpoint planted by raw SQL named them and made
them, creating databases and importing a module of its choosing."""


def _may_hold(module: str) -> bool:
    """Whether a state may hold classes of ``module``: any of a plugin's own packages, and of the ledger's own
    packages only ``STATE_MODULES``."""
    if module.split(".")[0] not in ("ledger", "events"):
        return True
    return any(module == allowed or module.startswith(allowed + ".") for allowed in STATE_MODULES)


def packages_of(view: View[Any]) -> tuple[str, ...]:
    """The top-level packages whose classes this view's state may hold and whose code folds and answers it: the
    catalogue's, the folds', the view's own, those of the classes it inherits from (its ``apply`` or ``rows`` may
    be theirs), outside the standard library, and its ``state_packages``."""
    bases = outside_stdlib(cls.__module__ for cls in type(view).__mro__)
    return tuple(dict.fromkeys(("events", "ledger", *bases, *view.state_packages)))


def outside_stdlib(modules: Iterable[str]) -> list[str]:
    """The top-level packages of ``modules`` that are not Python's own (the standard library, ``builtins``)."""
    tops = (module.split(".")[0] for module in modules)
    return [package for package in tops if package not in sys.stdlib_module_names and package != "builtins"]


SPLIT = b"dealledger state in parts 1\n"
"""How a checkpoint saved with its parts beside its pickle begins (``encode``); a plain pickle begins otherwise."""
_LENGTH = struct.Struct(">Q")


@contextmanager
def spooled(state: Any) -> Iterator[Spooled]:
    """The state's pickle, written into temporary files, to store while the block runs: the pickler hands over
    each 64 KiB frame as it goes, where ``pickle.dumps`` grows one buffer to the whole pickle, copying it as it
    grows (measured on a 100k-fact revenue book: 31 MB above the state instead of 43), and the store takes the
    files a piece at a time (``ledger.persistence.blobs``). The parts of the containers saved in parts
    (``ledger.folds.parts``) go to a second file as they are made, and the pickle names them: the value is
    ``SPLIT``, the pickle's length, the pickle, the parts. Where no temporary file can be written, one plain
    pickle in memory."""
    with contextlib.ExitStack() as files:
        try:
            main = files.enter_context(tempfile.TemporaryFile())
            side = files.enter_context(tempfile.TemporaryFile())
            _PartsBeside(main, side).dump(state)
            value = Spooled([SPLIT + _LENGTH.pack(main.tell()), (main, 0, main.tell()), (side, 0, side.tell())])
        except OSError:  # no room for temporary files (a full disk, a read-only one)
            files.close()
            value = Spooled.of(pickle.dumps(state, protocol=5))
        yield value


def encode(state: Any) -> bytes | bytearray:
    """The state's pickle as one value (``spooled``, read whole)."""
    with spooled(state) as value:
        return value.whole()


class _PartsBeside(pickle.Pickler):
    """Pickles a state with the parts of its parted containers written to ``side`` as they are made, the pickle
    naming each container by its class and its parts' places (its *persistent id*): a pickler holds every object
    it has written until the end, so parts in the pickle itself were all held at once."""

    def __init__(self, main: IO[bytes], side: IO[bytes]) -> None:
        super().__init__(main, protocol=5)
        self.side = side
        self.written: dict[int, tuple[Any, tuple[str, str, tuple[tuple[int, int], ...]]]] = {}
        """Each container written and its persistent id, by the container's id."""

    def persistent_id(self, obj: Any) -> Any:
        kind = type(obj)
        if kind not in PARTED:  # a subclass may pickle itself its own way: it does
            return None
        written = self.written.get(id(obj))
        if written is not None and written[0] is obj:
            return written[1]
        spans = spool_parts(obj, self.side)
        if spans is None:
            return None  # small: pickled in place
        pid = (kind.__module__, kind.__qualname__, spans)
        self.written[id(obj)] = (obj, pid)  # held: one made while pickling must not leave its id to the next
        return pid


def _is_parted_id(pid: Any) -> bool:
    return (
        type(pid) is tuple
        and len(pid) == 3
        and type(pid[0]) is str
        and type(pid[1]) is str
        and type(pid[2]) is tuple
        and all(type(span) is tuple and len(span) == 2 and all(type(n) is int and n >= 0 for n in span) for span in pid[2])
    )


class _Side:
    """The parts of a checkpoint saved in parts (``spooled``): the stored value from ``start`` on, read by place."""

    def __init__(self, stored: Stored, start: int) -> None:
        self.stored = stored
        self.start = start

    def read(self, offset: int, length: int) -> bytes:
        if self.start + offset + length > self.stored.size:
            raise CheckpointError("a checkpoint's part lies past its end")
        return self.stored.read(self.start + offset, length)


def _restricted(data: bytes, packages: tuple[str, ...]) -> Any:
    return _StateUnpickler(data, packages).load()


def _restricted_state(stored: Stored, packages: tuple[str, ...]) -> Any:
    """A whole state: one pickle, or a pickle with its parts beside it (``spooled``), each part read as it is reached."""
    head = len(SPLIT) + _LENGTH.size
    if stored.read(0, len(SPLIT)) != SPLIT:
        return _restricted(stored.read(0, stored.size), packages)
    (size,) = _LENGTH.unpack(stored.read(len(SPLIT), _LENGTH.size))
    if head + size > stored.size:
        raise CheckpointError("a checkpoint's pickle runs past its end")
    return _StateUnpickler(stored.read(head, size), packages, _Side(stored, head + size)).load()


def _reader(view: View[Any]) -> Callable[[bytes], Any]:
    """Unpickling restricted to the classes this view's state may hold (its parts' too: ``reading_parts``)."""
    return partial(_restricted, packages=packages_of(view))


def decode(data: bytes | bytearray | Stored, view: View[Any]) -> Any:
    stored = InMemory(data) if isinstance(data, bytes | bytearray) else data
    try:
        with reading_parts(_reader(view)):  # a state's parts are held to the same classes
            return _restricted_state(stored, packages_of(view))
    except CheckpointError:
        raise
    except Exception as error:  # a damaged blob can fail in any way; it is never trusted
        raise CheckpointError(f"{type(error).__name__}: {error}") from None


@dataclass(frozen=True)
class Checkpoint:
    view: str
    version: str
    cut: date
    head: int
    head_hash: str
    digest: str


@dataclass(frozen=True)
class Saving:
    """A state to keep as the fold up to ``cut``; ``retired``: names of views whose checkpoints go once it is kept."""

    view: View[Any]
    state: Any
    cut: date
    retired: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Pending:
    """States a child is pickling (``ledger.background``), with what their rows need besides the bytes."""

    pickling: Pickling
    savings: list[Saving]
    head: int
    head_hash: str


class CheckpointNotRead(UserWarning):
    """A checkpoint could not be read back (damaged, or holding a class a state may not hold): the answer is right,
    folded without it, but each question pays for the fold until the state can be saved in a form that reads back."""


class CheckpointNotSaved(UserWarning):
    """A view's state could not be saved as a checkpoint (its answer is right; the next one folds further back)."""


def _not_saved(saving: Saving, why: str) -> None:
    warnings.warn(
        f"the checkpoint of {fold_name(saving.view)} at {saving.cut} was not saved: {why}", CheckpointNotSaved, stacklevel=3
    )


@contextmanager
def _value_of(saving: Saving) -> Iterator[Spooled]:
    """The value to keep for a state: its view's own format (``dump_state``), or its pickle, spooled (``spooled``)."""
    dumper = getattr(saving.view, "dump_state", None)
    if dumper is not None:
        yield Spooled.of(bytes(dumper(saving.state)))  # any bytes-like value a plugin's format gives
        return
    with spooled(saving.state) as value:
        yield value


class Checkpoints:
    """The checkpoint table of one ledger: find the best one for a question, save, prune, clear."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db
        self._pending: list[_Pending] = []

    def _write(self, statements: list[tuple[str, Any]]) -> None:
        write_derived(self.db, statements)

    def usable(self, view: View[Any], head: int, as_of: date | None) -> Checkpoint | None:
        """The latest checkpoint still exact for (as_of, head), its state not read (nor its bytes checked)."""
        for checkpoint in self._candidates(view, head, as_of):
            if self._exact(checkpoint, head):
                return checkpoint
        return None

    def best(self, view: View[Any], head: int, as_of: date | None) -> tuple[Checkpoint, Any] | None:
        """The latest checkpoint still exact for (as_of, head), with its state; damaged ones are dropped on the way."""
        for checkpoint in self._candidates(view, head, as_of):
            if not self._exact(checkpoint, head):
                continue
            try:
                return checkpoint, _of_its_type(self._load(checkpoint, view), view, as_of)
            except CheckpointError as error:
                self.drop(checkpoint)
                warnings.warn(
                    f"the checkpoint of {fold_name(view)} at {checkpoint.cut} could not be read ({error}): dropped, "
                    "the answer is folded from the facts",
                    CheckpointNotRead,
                    stacklevel=2,
                )
        return None

    def _candidates(self, view: View[Any], head: int, as_of: date | None) -> list[Checkpoint]:
        self.settle([view])
        params: list[Any] = [fold_name(view), state_version(view), head]
        where = "view = ? AND state_version = ? AND head <= ?"
        if as_of is not None:
            where += " AND cut <= ?"
            params.append(as_of.isoformat())
        rows = self.db.rows(
            f"SELECT view, state_version, cut, head, head_hash, digest FROM {CHECKPOINTS_TABLE} WHERE {where} "
            "ORDER BY cut DESC, head DESC",
            params,
        )
        return [Checkpoint(row[0], row[1], cut, head, row[4], row[5]) for row, cut, head in self._well_formed(rows)]

    def _well_formed(self, rows: Sequence[Sequence[Any]]) -> Iterator[tuple[Sequence[Any], date, int]]:
        """Rows of (view, state_version, cut, head, ...) with their cut and head read; a row no save of ours makes
        (its cut not a date, its head not a number: changed by hand) is let go, as derived data is: it had made
        every question, replay and listing end in a traceback."""
        for row in rows:
            try:
                yield row, date.fromisoformat(row[2]), int(row[3])
            except (TypeError, ValueError):
                self._write([(_DELETE_ONE, [(row[0], row[1], row[2], row[3])])])

    def _exact(self, checkpoint: Checkpoint, head: int) -> bool:
        touch = self.store.min_touch(checkpoint.head, head)
        if touch is not None and touch <= checkpoint.cut:
            return False  # a later fact changed something on or before its cut
        if self.store.hash_at(checkpoint.head) != checkpoint.head_hash:
            self.drop(checkpoint)  # the ledger under it is not the one it was folded from
            return False
        return True

    def _load(self, checkpoint: Checkpoint, view: View[Any]) -> Any:
        """The checkpoint's state, its value read in place where the store can (``Database.reading_blob``): checked
        against its digest a piece at a time, then unpickled, each part read as it is reached."""
        where = "view = ? AND state_version = ? AND cut = ? AND head = ?"
        key = (checkpoint.view, checkpoint.version, checkpoint.cut.isoformat(), checkpoint.head)
        with self.db.reading_blob(CHECKPOINTS_TABLE, "state", where, key) as stored:
            if stored is None:
                raise CheckpointError("gone")
            if digest_of(stored) != checkpoint.digest:
                raise CheckpointError("its bytes do not match its digest")
            loader = getattr(view, "load_state", None)
            if loader is None:
                return decode(stored, view)
            with reading_parts(_reader(view)):  # the parts of a state in a plugin's own format too
                return loader(stored.read(0, stored.size))

    def save_all(self, savings: Sequence[Saving], head: int, *, background: bool = False) -> None:
        """Keep each state as the fold of the story known at ``head`` up to its cut (the oldest beyond ``KEEP``
        go, ``_prune``); ``background``: pickle them in a forked child while this process goes on (see
        ``ledger.background``), the rows written when it is done (``settle``). Nothing here holds the states
        after this returns, so a caller may let them go."""
        head_hash = self.store.hash_at(head)
        if head_hash is None or not savings:
            return
        encoders = [partial(_value_of, saving) for saving in savings]
        if background:
            self.settle([])  # write what children have finished; those still running count against the memory left
        pickling = pickle_apart(encoders, len(self._pending)) if background else None
        if pickling is None:
            self.settle([saving.view for saving in savings])
            for saving in savings:
                with contextlib.ExitStack() as held:
                    try:
                        value = held.enter_context(_value_of(saving))
                    except Exception as error:  # derived data: the answer goes on without it, and the user is told
                        _not_saved(saving, f"{type(error).__name__}: {error}")
                        continue
                    self._keep(saving.view, value, saving.cut, head, head_hash, saving.retired)
        else:
            if not self._pending:
                atexit.register(self.settle)  # a ledger never closed still writes what its children pickled
            self._pending.append(_Pending(pickling, [replace(saving, state=None) for saving in savings], head, head_hash))

    def settle(self, views: Collection[View[Any]] | None = None) -> None:
        """Write the checkpoints the children have pickled, waiting for those of ``views`` (of all when None), and
        for the others only when they are already done. A fold about to read its checkpoints thus never waits
        for a child pickling another fold's. A child that did not finish saves nothing; a state it could not
        pickle is told (``CheckpointNotSaved``), and a write the database refuses is skipped: derived data."""
        if told_to_stop():  # what is still pickled is let go: saving it could wait on what the stop broke
            with signals_held():  # every child stopped and reaped, even if the stop is told again meanwhile
                for pending in self._pending:
                    pending.pickling.stop()
                self._pending.clear()
        names = None if views is None else {fold_name(view) for view in views}
        for pending in list(self._pending):
            wanted = names is None or any(fold_name(saving.view) in names for saving in pending.savings)
            if not wanted and not pending.pickling.done():
                continue
            self._pending.remove(pending)  # first: whatever happens below, it is never collected twice
            found = pending.pickling.collect()
            for saving, data in zip(pending.savings, found or (), strict=False):
                if isinstance(data, str):
                    _not_saved(saving, data)
                    continue
                with unless_refused():
                    self._keep(saving.view, data, saving.cut, pending.head, pending.head_hash, saving.retired)
        if not self._pending:
            atexit.unregister(self.settle)

    def _keep(self, view: View[Any], value: Spooled, cut: date, head: int, head_hash: str, retired: Sequence[str]) -> None:
        from ledger.persistence import now_us

        version = state_version(view)
        name = fold_name(view)
        key = (name, version, cut.isoformat(), head)
        with unless_refused():
            self.db.write_with_blob(
                [
                    (
                        f"DELETE FROM {CHECKPOINTS_TABLE} WHERE view = ? AND (state_version <> ? OR (cut = ? AND head = ?))",
                        [(name, version, cut.isoformat(), head)],
                    )
                ],
                CHECKPOINTS_TABLE,
                ("view", "state_version", "cut", "head", "head_hash", "digest", "created_us", "state"),
                (*key, head_hash, value.digest(), now_us()),
                value,
            )
        self._prune(name)
        self._retire(list(retired))

    def _prune(self, name: str) -> None:
        """Keep the latest ``KEEP`` checkpoints, and besides them the newest at each of the latest ``KEEP_ANCHORS``
        quarter ends: the anchors a back-dated fact falls back on (``ledger.anchors``) outlive a run of questions
        at other dates, and copies of one quarter end saved at later heads do not crowd out the others."""
        rows = self.db.rows(
            f"SELECT state_version, cut, head FROM {CHECKPOINTS_TABLE} WHERE view = ? ORDER BY created_us DESC", (name,)
        )
        newest: dict[str, tuple[Any, ...]] = {}  # the newest checkpoint at each quarter end, newest quarter ends first
        for row in rows:
            if len(newest) < KEEP_ANCHORS and row[1] not in newest and _is_quarter_end_text(row[1]):
                newest[row[1]] = row
        anchors = set(newest.values())
        old = [(name, *row) for row in rows[KEEP:] if row not in anchors]
        if old:
            self._write([(_DELETE_ONE, old)])

    def _retire(self, names: list[str]) -> None:
        """Drop the checkpoints kept under these names: views that now share a fold keep theirs under its name."""
        if names:
            self._write([(f"DELETE FROM {CHECKPOINTS_TABLE} WHERE view = ?", [(name,) for name in names])])

    def drop(self, checkpoint: Checkpoint) -> None:
        """Drop one checkpoint found wanting (its view's pending rows were written before it was read)."""
        self._write(
            [
                (
                    _DELETE_ONE,
                    [(checkpoint.view, checkpoint.version, checkpoint.cut.isoformat(), checkpoint.head)],
                )
            ]
        )

    def clear(self) -> int:
        self.settle()
        count = int(self.db.rows(f"SELECT COUNT(*) FROM {CHECKPOINTS_TABLE}")[0][0])
        with refused_as("drop the checkpoints"):
            self.db.write([(f"DELETE FROM {CHECKPOINTS_TABLE}", [()])])
        return count

    def listing(self) -> list[dict[str, Any]]:
        self.settle()
        rows = self.db.rows(
            f"SELECT view, state_version, cut, head, digest, created_us FROM {CHECKPOINTS_TABLE} ORDER BY view, cut, head"
        )
        return [
            {"view": row[0], "state_version": row[1], "cut": cut, "head": head, "digest": str(row[4])[:12]}
            for row, cut, head in self._well_formed(rows)
        ]


def _is_quarter_end_text(text: str) -> bool:
    try:
        return is_quarter_end(date.fromisoformat(text))
    except (TypeError, ValueError):  # not a date: let go when next read (``_well_formed``)
        return False


def _of_its_type(state: Any, view: View[Any], as_of: date | None) -> Any:
    """``state``, when it is of the type the view folds from the start: a checkpoint holding a state of another type
    (a well-formed pickle written by hand) failed every question of the view until the checkpoints were cleared."""
    try:
        expected = type(view.initial(Query(as_of, None, {option.name: option.default for option in view.options})))
    except Exception:  # a view whose start needs a question's own options: its states are not told apart here
        return state
    if type(state) is not expected:
        raise CheckpointError(f"it holds a {type(state).__name__}, where {fold_name(view)} folds a {expected.__name__}")
    return state


def state_version(view: View[Any]) -> str:
    """The view's ``state_version`` and the class whose ``apply`` folds it, so views sharing a fold (see
    ``View.fold_name``) read the same checkpoints, and a view whose fold is another class's never reads its state.

    A view that keeps its name and inherits the same ``apply`` folds the same state: bump ``state_version``
    when ``initial`` or the state's shape changes without ``apply`` moving to another class."""
    cls = fold_class(view)
    return f"{cls.__module__}.{cls.__qualname__}:{getattr(view, 'state_version', '1')}{STORY_RULES}"


STORY_RULES = "/story-2"
"""How the host tells the story a fold reads, in every state's key: bumped when that changes, so that states folded
under the old rules are never read again, whatever their view. 2: a correction or retraction names the fact it
names as ``resolve`` reads it, among the facts recorded before it (states folded before could have missed one)."""
