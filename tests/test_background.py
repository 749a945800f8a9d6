"""States pickled in a forked child (``ledger.background``): the same checkpoints, never pickled by this process,
and a child that fails or dies saves nothing and changes no answer."""

from __future__ import annotations

import contextlib
import os
import signal
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ledger import background, checkpoints
from ledger.api import Ledger
from ledger.folds.parts import ValueLog
from ledger.importing import incoming_from_path
from ledger.persistence.blobs import Spooled
from ledger.views import Query
from tests.conftest import ctrl_c_at_first

from .test_engine_properties import from_scratch

pytestmark = pytest.mark.skipif(not background.FORKS, reason="states are pickled in a child process only on Linux")

STORY = Path(__file__).parent.parent / "examples" / "story.jsonl"
QUERY = Query(as_of=date(2024, 12, 31))


def sample(url: str, background_from: int = 0) -> Ledger:
    ledger = Ledger(url)
    ledger.engine.save_after = 0
    ledger.engine.background_from = background_from
    ledger.append(incoming_from_path(ledger.catalogue, str(STORY)))
    return ledger


def made(data: bytes) -> Any:
    """An encoder whose value is ``data``."""
    return lambda: contextlib.nullcontext(Spooled.of(data))


def read_back(found: Any) -> list[bytes | str]:
    """What ``collect`` handed back, each value read before the next is taken (as ``settle`` does)."""
    return [item if isinstance(item, str) else bytes(item.whole()) for item in found]


def test_a_child_hands_back_what_each_encoder_made_in_order() -> None:
    values = [b"", b"x" * 3_000_000, bytes(range(256))]  # one longer than a chunk
    pickling = background.pickle_apart([made(data) for data in values])
    assert pickling is not None
    found = pickling.collect()
    assert found is not None and read_back(found) == values
    assert pickling.collect() is None  # read once: a second look finds nothing rather than failing


def test_a_child_writes_a_state_s_spooled_pickle_a_piece_at_a_time() -> None:
    """The child hands on the value as its files hold it, never whole: what the parent reads back is the pickle."""
    state = {"log": ValueLog(range(50_000))}
    pickling = background.pickle_apart([lambda: checkpoints.spooled(state)])
    assert pickling is not None
    found = pickling.collect()
    assert found is not None
    [value] = read_back(found)
    assert isinstance(value, bytes) and checkpoints.decode(value, checkpoints_view()) == state


def checkpoints_view() -> Any:
    class View:
        state_packages: tuple[str, ...] = ()

    return View()


def test_a_state_that_cannot_be_pickled_is_told_and_the_others_kept() -> None:
    pickling = background.pickle_apart([made(b"first"), fail, made(b"third")])
    assert pickling is not None
    found = pickling.collect()
    assert found is not None
    assert read_back(found) == [b"first", "TypeError: cannot pickle '_thread.lock' object", b"third"]


def fail() -> Any:
    raise TypeError("cannot pickle '_thread.lock' object")


def die() -> Any:
    os.kill(os.getpid(), signal.SIGKILL)
    return contextlib.nullcontext(Spooled.of(b"never"))


def interrupted() -> Any:
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C reaches the whole process group: it ends the child at once
    return contextlib.nullcontext(Spooled.of(b"never"))


@pytest.mark.parametrize("encoder", [die, interrupted])
def test_a_child_that_is_killed_or_interrupted_hands_back_nothing(encoder: Any) -> None:
    pickling = background.pickle_apart([made(b"first"), encoder])
    assert pickling is not None and pickling.collect() is None


def test_no_room_for_a_child_means_pickling_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "_resident", lambda: 100)
    monkeypatch.setattr(background, "_meminfo_available", lambda: 250)
    assert background.room_for_a_child() and not background.room_for_a_child(running=1)
    assert background.pickle_apart([made(b"x")], running=1) is None  # a child already copies this process
    monkeypatch.setattr(background, "_meminfo_available", lambda: 150)
    assert background.pickle_apart([made(b"x")]) is None
    monkeypatch.setattr(background, "_meminfo_available", lambda: 1 << 50)
    monkeypatch.setattr(background, "_cgroup_room", lambda: 150)  # a container whose limit is nearly reached
    assert not background.room_for_a_child()


def test_children_still_running_count_against_the_memory_left(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    running: list[int] = []
    pickle_apart = checkpoints.pickle_apart

    def counted(encoders: Any, children: int) -> Any:
        running.append(children)
        return pickle_apart(encoders, children)

    monkeypatch.setattr(checkpoints, "pickle_apart", counted)
    with sample(sqlite_url) as ledger:
        ledger.view("regulatory", QUERY)  # the quarter end on the way (a child), then the cut
    assert len(running) == 2 and running[0] == 0


def test_no_temporary_folder_means_pickling_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused() -> Any:
        raise FileNotFoundError("no usable temporary directory found")

    monkeypatch.setattr(background.tempfile, "TemporaryFile", refused)
    assert background.pickle_apart([made(b"x")]) is None


def test_a_child_reaped_elsewhere_saves_nothing_and_raises_nothing() -> None:
    pickling = background.pickle_apart([made(b"x")])
    assert pickling is not None
    os.waitpid(pickling.pid, 0)  # an embedding program that reaps every child itself
    assert pickling.collect() is None


def test_where_nothing_forks_states_are_pickled_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "FORKS", False)
    assert background.pickle_apart([made(b"x")]) is None


def test_large_states_are_saved_by_a_child_and_read_back_by_the_next_process(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pickled_here: list[int] = []
    spooled = checkpoints.spooled

    def watched(state: Any) -> Any:
        pickled_here.append(os.getpid())  # a child's list is its own copy: the parent's stays empty
        return spooled(state)

    monkeypatch.setattr(checkpoints, "spooled", watched)  # every way a state is pickled goes through it
    with sample(sqlite_url) as ledger:
        first = ledger.view("regulatory", QUERY)
        assert [row["cut"] for row in ledger.engine.checkpoints.listing()] == [date(2024, 9, 30), QUERY.as_of]
    assert pickled_here == []
    with Ledger(sqlite_url) as again:
        found = again.engine.checkpoints.best(again.host.view("regulatory"), again.store.head().position, QUERY.as_of)
        assert found is not None and found[0].cut == QUERY.as_of
        assert again.view("regulatory", QUERY) == first == from_scratch(again, "regulatory", QUERY)


def test_a_child_that_cannot_pickle_a_state_saves_nothing_and_changes_no_answer(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unpicklable(pickler: Any, state: Any) -> None:
        raise TypeError("cannot pickle '_thread.lock' object")

    monkeypatch.setattr(checkpoints._PartsBeside, "dump", unpicklable)
    for background_from in (0, 10**9):  # pickled in a child, and in place
        with sample(sqlite_url.replace(".db", f"{background_from}.db"), background_from) as ledger:
            with pytest.warns(checkpoints.CheckpointNotSaved, match=r"regulatory at 2024-(09-30|12-31) was not saved: TypeError"):
                assert ledger.view("regulatory", QUERY) == from_scratch(ledger, "regulatory", QUERY)
                ledger.engine.checkpoints.settle()
            assert ledger.engine.checkpoints.listing() == []


def test_small_states_are_pickled_in_place(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    forks: list[int] = []
    monkeypatch.setattr(checkpoints, "pickle_apart", lambda encoders: forks.append(len(encoders)))
    with sample(sqlite_url, background_from=10**9) as ledger:
        ledger.view("regulatory", QUERY)
        assert len(ledger.engine.checkpoints.listing()) == 2
    assert forks == []


def _in_a_child(check: str) -> str:
    """What ``check`` (an expression) gives in a child made by ``fork_holding_signals``, as text through a pipe."""
    reading, writing = os.pipe()
    children: list[int] = []
    pid = background.fork_holding_signals(children.append)
    if pid == 0:  # pragma: no cover - the child
        os.write(writing, repr(eval(check)).encode())
        os._exit(0)
    os.close(writing)
    try:
        return os.read(reading, 1024).decode()
    finally:
        os.close(reading)
        os.waitpid(pid, 0)


def test_a_child_keeps_a_signal_this_process_ignores_and_defaults_the_others() -> None:
    """A command started in the background by a shell ignores Ctrl-C: its children (replay's workers, pickling
    children) must too, or a Ctrl-C to the terminal's group would end them and fail a replay that goes on."""
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert _in_a_child("(signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))") == repr(
            (signal.SIG_IGN, signal.SIG_DFL)
        )
    finally:
        signal.signal(signal.SIGINT, before)
    assert _in_a_child("signal.getsignal(signal.SIGINT)") == repr(signal.SIG_DFL)
    assert signal.getsignal(signal.SIGINT) is before  # this process's own handler, back in place


def test_a_ctrl_c_during_the_fork_is_raised_once_the_child_is_tracked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The system may hand a Ctrl-C to any thread (a progress bar's): raised right after the fork, it would lose
    the child. It is held until ``in_parent`` has tracked the child, then raised."""
    import threading
    import time

    fork = os.fork
    tracked: list[int] = []

    def fork_then_interrupted() -> int:
        pid = fork()
        if pid != 0:
            os.kill(os.getpid(), signal.SIGINT)  # taken by the other thread: this one blocks it
            time.sleep(0.2)  # long enough for the other thread to have noted it
        return pid

    monkeypatch.setattr(os, "fork", fork_then_interrupted)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            if background.fork_holding_signals(tracked.append) == 0:  # pragma: no cover - the child
                os._exit(0)
    finally:
        stop.set()
        other.join()
    assert len(tracked) == 1
    assert os.waitpid(tracked[0], 0)[0] == tracked[0]


def test_a_pickling_child_interrupted_at_its_fork_is_stopped_not_left(monkeypatch: pytest.MonkeyPatch) -> None:
    fork = os.fork
    made: list[int] = []

    def fork_then_interrupted() -> int:
        pid = fork()
        if pid != 0:
            made.append(pid)
            os.kill(os.getpid(), signal.SIGINT)
        return pid

    monkeypatch.setattr(os, "fork", fork_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        background.pickle_apart([lambda: __import__("time").sleep(60) or b""])
    with pytest.raises(ChildProcessError):  # already reaped: stopped, not left running or unreaped
        os.waitpid(made[0], os.WNOHANG)


def test_a_stopped_command_lets_the_states_still_pickled_go(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing the ledger waited for every pickling child, then wrote its checkpoints: after a SIGTERM sent to the
    command alone, a large state's child went on pickling and the command waited for it, past the watchdog's grace.
    Once told to stop, the children are stopped and nothing more is written."""
    import time

    from ledger import stopping

    slow = checkpoints._value_of

    def slowly(saving: Any) -> Any:
        time.sleep(60)  # in the child only: this process never pickles when a child does
        return slow(saving)

    monkeypatch.setattr(checkpoints, "_value_of", slowly)
    with sample(sqlite_url) as ledger:
        ledger.view("league", QUERY)
        pending = list(ledger.engine.checkpoints._pending)
        assert pending, "the state went to a child"
        monkeypatch.setattr(stopping, "_told", [signal.SIGTERM])
        started = time.monotonic()
    assert time.monotonic() - started < 10
    assert all(item.pickling.status is not None for item in pending)  # stopped and reaped, not left running
    monkeypatch.setattr(checkpoints, "_value_of", slow)
    with Ledger(sqlite_url) as ledger:
        assert ledger.engine.checkpoints.listing() == []


def test_a_stop_told_again_while_the_children_are_stopped_leaves_none_running(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C while the pickling children are being stopped had ended that loop at the first, leaving the others
    pickling on (and unreaped). It is raised once every child is stopped."""
    import time

    from ledger import stopping

    slow = checkpoints._value_of

    def slowly(saving: Any) -> Any:
        time.sleep(60)  # in the child only
        return slow(saving)

    again: list[int] = []
    monkeypatch.setattr(checkpoints, "_value_of", slowly)
    monkeypatch.setattr(background.Pickling, "stop", ctrl_c_at_first(background.Pickling.stop, again))
    with sample(sqlite_url) as ledger:
        ledger.view("league", QUERY)
        ledger.view("regulatory", QUERY)
        pending = list(ledger.engine.checkpoints._pending)
        assert len(pending) >= 2, "states went to children of their own"
        monkeypatch.setattr(stopping, "_told", [signal.SIGTERM])
        with pytest.raises(KeyboardInterrupt):
            ledger.engine.checkpoints.settle()
        assert again
        assert all(item.pickling.status is not None for item in pending)  # every child stopped and reaped at once
        assert ledger.engine.checkpoints._pending == []
