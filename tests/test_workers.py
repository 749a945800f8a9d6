"""Replays shared out between processes fold by fold (``ledger.workers``): the same files and kept checkpoints as one
process, on each backend; a worker's failure, or death, is the replay's, with nothing written and no process left."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ledger import replaying, workers
from ledger.answers import Answers
from ledger.api import Ledger
from ledger.errors import LedgerError, PluginError
from ledger.importing import incoming_from_path
from ledger.replaying import replay_to, replayable_views
from ledger.views import View, fold_name
from tests.conftest import ctrl_c_at_first

pytestmark = pytest.mark.skipif(not workers.FORKS, reason="a replay is shared out between processes only where it forks")

STORY = Path(__file__).parent.parent / "examples" / "story.jsonl"
AS_OF = date(2024, 12, 31)


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ledger is large enough to share its replay out."""
    monkeypatch.setattr(workers, "SHARED_FROM", 0)


def sample(url: str, plugins: tuple[str, ...] = ()) -> Ledger:
    ledger = Ledger(url, plugins=plugins)
    ledger.engine.save_after = 0  # every fold saves its checkpoint, so the workers' saves are compared too
    ledger.append(incoming_from_path(ledger.catalogue, str(STORY)))
    return ledger


def texts(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def kept(ledger: Ledger) -> list[tuple[Any, ...]]:
    """The checkpoints saved (by fold and cut), without their bytes (pickles of equal states may differ in order)."""
    rows = ledger.store.db.rows("SELECT view, cut, head FROM dealledger_checkpoints ORDER BY view, cut, head")
    return [tuple(row) for row in rows]


def forget(ledger: Ledger) -> None:
    """Drop checkpoints and kept answers, so the next replay folds and answers everything again."""
    ledger.engine.checkpoints.clear()
    Answers(ledger.store).clear()


def test_shared_out_the_files_and_checkpoints_are_those_of_one_process(
    ledger_url: str, tmp_path: Path, shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with sample(ledger_url) as ledger:
        alone = replay_to(ledger, tmp_path / "alone", "csv", AS_OF, None, jobs=1)
        saved_alone = kept(ledger)
        forget(ledger)
        marks = tmp_path / "marks"
        marks.mkdir()
        marked(monkeypatch, marks)
        together = replay_to(ledger, tmp_path / "shared", "csv", AS_OF, None, jobs=3)
        saved_together = kept(ledger)
    assert [(name, count) for name, count, _ in together] == [(name, count) for name, count, _ in alone]
    assert texts(tmp_path / "shared") == texts(tmp_path / "alone")
    # the same folds saved, each at the question's date (and at a quarter end on its way, chosen by the facts of
    # the fold's own kinds, where one pass chooses it by the facts of them all: exact either way)
    assert {row for row in saved_together if row[1] == AS_OF.isoformat()} == {
        row for row in saved_alone if row[1] == AS_OF.isoformat()
    }
    assert {row[0] for row in saved_together} == {row[0] for row in saved_alone} and saved_alone
    processes = {mark.name.split("-")[0] for mark in marks.iterdir()}
    assert len(processes) >= 2  # the views were answered by more than one process
    assert len(list(marks.iterdir())) == len({fold_name(view) for view in replayable_views(ledger)})  # each fold once


def marked(monkeypatch: pytest.MonkeyPatch, marks: Path, heaviest: str | None = None) -> None:
    """Each fold taken leaves a mark in ``marks`` (``<pid>-<its number in the order>``). ``heaviest``'s fold, when
    named, is made to weigh the most: it is the first started."""
    outcome = workers._Sharing._outcome

    def noted(sharing: Any, number: int) -> Any:
        (marks / f"{os.getpid()}-{number}").touch()
        return outcome(sharing, number)

    monkeypatch.setattr(workers._Sharing, "_outcome", noted)
    if heaviest is not None:
        weigh = workers._facts_to_read

        def weighed(ledger: Any, views: Any, *rest: Any) -> list[int]:
            weights = weigh(ledger, views, *rest)
            return [10**9 if view.name == heaviest else weight for view, weight in zip(views, weights, strict=True)]

        monkeypatch.setattr(workers, "_facts_to_read", weighed)


def taken_elsewhere(marks: Path) -> bool:
    """Whether a process other than this one has taken a fold (``marked``)."""
    return any(not mark.name.startswith(f"{os.getpid()}-") for mark in marks.iterdir())


def test_a_view_failing_in_a_worker_fails_the_replay_with_its_own_message_and_writes_nothing(
    ledger_url: str, tmp_path: Path, shared: None, monkeypatch: pytest.MonkeyPatch, forked: list[int]
) -> None:
    with sample(ledger_url, ("tests.replay_plugin",)) as ledger:
        first = replay_to(ledger, tmp_path / "out", "csv", AS_OF, None, jobs=2)
        before = texts(tmp_path / "out")
        forget(ledger)
        monkeypatch.setenv("DEALLEDGER_TEST_FAIL", "1")  # zz-fragile fails: in the worker started first
        marks = tmp_path / "marks"
        marks.mkdir()
        marked(monkeypatch, marks, heaviest="zz-fragile")
        told = r"^plugin tests\.replay_plugin: view zz-fragile failed to answer: RuntimeError: told to fail$"
        with pytest.raises(PluginError, match=told):
            replay_to(ledger, tmp_path / "out", "csv", date(2023, 12, 31), None, jobs=len(first))
    assert texts(tmp_path / "out") == before  # the last run's files, as they were: no partial file either
    no_child_left(forked)


def test_an_error_raised_in_a_worker_is_raised_here_and_no_waiting_worker_takes_a_fold(
    sqlite_url: str, tmp_path: Path, shared: None, forked: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    sharing = the_sharing(monkeypatch)
    first = tmp_path / "first"

    def work(ledger: Ledger, views: list[View[Any]], progress: Any) -> dict[str, int]:
        (tmp_path / f"taken-{views[0].name}").touch()
        deadline = time.monotonic() + 30
        try:
            first.touch(exist_ok=False)  # the first fold taken fails, once the second is taken too
        except FileExistsError:
            while not sharing[0].stopped.value:  # the other fold at work ends once the failure is known
                assert time.monotonic() < deadline, "the failing worker never said so"
                time.sleep(0.01)
            return {view.name: 1 for view in views}
        while len(list(tmp_path.glob("taken-*"))) < 2:
            assert time.monotonic() < deadline, "no second worker took a fold"
            time.sleep(0.01)
        raise PluginError(f"plugin p: view {views[0].name} failed")

    with sample(sqlite_url) as ledger:
        views = replayable_views(ledger)
        assert len(workers.by_fold(views)) == 4
        with pytest.raises(PluginError, match=r"^plugin p: view \S+ failed$"):
            workers.share_out(ledger, views, work, as_of=AS_OF, head=ledger.store.head().position, jobs=2)
    assert len(list(tmp_path.glob("taken-*"))) == 2  # the two at work when it failed: the other two took none
    no_child_left(forked)


def test_every_fold_is_folded_by_a_worker_of_its_own(sqlite_url: str, tmp_path: Path, shared: None) -> None:
    """A process that has let a state go keeps most of its memory: no process folds twice, and this one folds none."""
    parent = os.getpid()

    def work(ledger: Ledger, views: list[View[Any]], progress: Any) -> dict[str, int]:
        (tmp_path / f"folded-by-{os.getpid()}-{views[0].name}").touch()
        return {view.name: 1 for view in views}

    with sample(sqlite_url) as ledger:
        views = replayable_views(ledger)
        counts = workers.share_out(ledger, views, work, as_of=AS_OF, head=ledger.store.head().position, jobs=2)
    assert counts == {view.name: 1 for view in views}
    folders = [int(mark.name.split("-")[2]) for mark in tmp_path.glob("folded-by-*")]
    assert parent not in folders
    assert len(set(folders)) == len(folders) == 4


def the_sharing(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The ``_Sharing`` of the next shared replay, once it runs."""
    found: list[Any] = []
    run = workers._Sharing.run

    def seen(sharing: Any) -> dict[str, int]:
        found.append(sharing)
        return run(sharing)

    monkeypatch.setattr(workers._Sharing, "run", seen)
    return found


def test_a_worker_killed_fails_the_replay(sqlite_url: str, shared: None, forked: list[int]) -> None:
    parent = os.getpid()
    taken = multiprocessing.get_context("fork").Event()

    def work(ledger: Ledger, views: list[View[Any]], progress: Any) -> dict[str, int]:
        if os.getpid() != parent:
            taken.set()
            os.kill(os.getpid(), signal.SIGKILL)
        assert taken.wait(30)
        return {view.name: 1 for view in views}

    with sample(sqlite_url) as ledger, pytest.raises(LedgerError, match=r"^a replay worker ended without an answer"):
        workers.share_out(ledger, replayable_views(ledger), work, as_of=AS_OF, head=ledger.store.head().position, jobs=2)
    no_child_left(forked)


def test_a_second_ctrl_c_while_the_workers_are_stopped_leaves_none_running(
    sqlite_url: str, shared: None, forked: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C stops every worker; one more while they are being stopped had ended that loop at the first, leaving the
    others folding on (and unreaped) for a caller that goes on, a notebook's. It is raised once all are stopped."""
    parent = os.getpid()

    def work(ledger: Ledger, views: list[View[Any]], progress: Any) -> dict[str, int]:
        if os.getpid() != parent:
            time.sleep(60)
        return {view.name: 1 for view in views}

    def interrupted(sharing: Any) -> None:
        if len(sharing.children) >= 2:
            raise KeyboardInterrupt  # the first Ctrl-C, once two workers are at work

    again: list[int] = []
    monkeypatch.setattr(workers._Sharing, "_show", interrupted)
    monkeypatch.setattr(workers._Child, "kill", ctrl_c_at_first(workers._Child.kill, again))  # the second Ctrl-C
    with sample(sqlite_url) as ledger, pytest.raises(KeyboardInterrupt):
        workers.share_out(ledger, replayable_views(ledger), work, as_of=AS_OF, head=ledger.store.head().position, jobs=2)
    assert again and len(forked) == 2
    no_child_left(forked)


def test_the_count_of_facts_folded_by_every_worker_is_told_and_ends_full(
    ledger_url: str, tmp_path: Path, shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    told: list[tuple[int, int | None]] = []
    marks = tmp_path / "marks"
    marks.mkdir()
    marked(monkeypatch, marks)
    with sample(ledger_url) as ledger:
        head = ledger.store.head().position
        views = replayable_views(ledger)
        expected = 0  # what each fold folds alone (at most what it was expected to read), summed
        for group in workers.by_fold(views):
            alone: list[int] = [0]
            [weight] = workers._facts_to_read(ledger, [group[0]], AS_OF, head)  # before the fold saves a checkpoint
            ledger.states(group, AS_OF, None, lambda done, total, alone=alone: alone.append(done))
            expected += min(alone[-1], weight)
        forget(ledger)
        counts = workers.share_out(
            ledger, views, folded_counts, as_of=AS_OF, head=head, jobs=2, progress=lambda done, total: told.append((done, total))
        )
        assert counts == {view.name: 0 for view in views}
        assert taken_elsewhere(marks)  # a child folded one of them
        assert told[-1] == (expected, expected) and expected > head  # every worker's facts counted, each fold's own
        assert [done for done, _ in told] == sorted(done for done, _ in told)  # it never goes back
        # asked again, each fold is loaded from its checkpoint at that date: no fact is left to fold, whatever a
        # loaded fold reports (``replay_each`` tells the whole ledger done)
        told.clear()
        workers.share_out(ledger, views, answered, as_of=AS_OF, head=head, jobs=2, progress=lambda d, t: told.append((d, t)))
        assert told[-1] == (0, 0)


def answered(ledger: Ledger, views: list[View[Any]], progress: Any) -> dict[str, int]:
    """Answer the views as ``replay`` does (so a fold with a checkpoint at the date is loaded, not folded)."""
    return {
        replayed.name: len(list(replayed.rows)) for replayed in replaying.replay_each(ledger, AS_OF, None, progress, views=views)
    }


def folded_counts(ledger: Ledger, views: list[View[Any]], progress: Any) -> dict[str, int]:
    """Fold the views' facts (the engine tells ``progress``), answer nothing."""
    ledger.states(views, AS_OF, None, progress)
    return {view.name: 0 for view in views}


@pytest.mark.parametrize("why", ["one job", "small ledger", "in memory"])
def test_one_process_answers_when_sharing_would_not_pay(why: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, list[str]]] = []

    def work(ledger: Ledger, views: list[View[Any]], progress: Any) -> dict[str, int]:
        calls.append((os.getpid(), [view.name for view in views]))
        return {}

    monkeypatch.setattr(workers, "SHARED_FROM", 10**9 if why == "small ledger" else 0)
    with sample("sqlite://" if why == "in memory" else sqlite_url) as ledger:
        views = replayable_views(ledger)
        jobs = 1 if why == "one job" else 4
        workers.share_out(ledger, views, work, as_of=AS_OF, head=ledger.store.head().position, jobs=jobs)
    assert calls == [(os.getpid(), [view.name for view in views])]  # once, here, every view in one pass


def test_jobs_only_with_out(run: Any) -> None:
    result = run("replay", "--as-of", "2024-12-31", "--jobs", "2")
    assert result.exit_code == 2 and "--jobs shares out the files of --out" in result.output
    result = run("replay", "--as-of", "2024-12-31", "--out", "out", "--jobs", "0")
    assert result.exit_code == 2 and "--jobs" in result.output


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of the workers forked during the test."""
    pids: list[int] = []
    fork = workers._Sharing._fork

    def recorded(sharing: Any, number: int) -> bool:
        before = len(sharing.children)
        forked = fork(sharing, number)
        pids.extend(child.pid for child in sharing.children[before:])
        return forked

    monkeypatch.setattr(workers._Sharing, "_fork", recorded)
    return pids


def no_child_left(pids: list[int]) -> None:
    """Every worker forked has ended and been reaped: none left running, no zombie."""
    assert pids
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


@pytest.mark.parametrize(
    ("files", "allowed"),
    [
        ({"/proc/self/cgroup": "0::/pod/a\n", "/sys/fs/cgroup/pod/a/cpu.max": "150000 100000\n"}, 2),  # v2: 1.5, up
        ({"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/cpu.max": "max 100000\n"}, None),  # v2, no quota
        (
            {
                "/proc/self/cgroup": "4:memory:/x\n2:cpu,cpuacct:/job\n0::/\n",
                "/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_quota_us": "300000\n",
                "/sys/fs/cgroup/cpu,cpuacct/job/cpu.cfs_period_us": "100000\n",
            },
            3,
        ),  # v1
        (
            {
                "/proc/self/cgroup": "1:cpu:/\n",
                "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
                "/sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
            },
            None,
        ),  # v1, no quota
        ({}, None),  # no cgroups at all
    ],
)
def test_a_containers_cpu_quota_bounds_the_workers(files: dict[str, str], allowed: int | None) -> None:
    assert workers.cpu_quota(files.get) == allowed


def test_no_more_than_jobs_workers_fold_at_once_and_the_next_starts_as_one_ends(
    sqlite_url: str, tmp_path: Path, shared: None
) -> None:
    def work(ledger: Ledger, views: list[View[Any]], progress: Any) -> dict[str, int]:
        started = time.monotonic()
        time.sleep(1)  # long beside starting a worker, even on a busy machine
        (tmp_path / f"span-{views[0].name}").write_text(f"{started} {time.monotonic()}")
        return {view.name: 1 for view in views}

    with sample(sqlite_url) as ledger:
        views = replayable_views(ledger)
        workers.share_out(ledger, views, work, as_of=AS_OF, head=ledger.store.head().position, jobs=2)
    spans = [tuple(map(float, path.read_text().split())) for path in tmp_path.glob("span-*")]
    assert len(spans) == 4
    at_once = [sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans]
    assert max(at_once) == 2  # two at work, never three


def forks_failing_after(monkeypatch: pytest.MonkeyPatch, working: int) -> None:
    """The first ``working`` forks make a worker; every later one fails as a full process table makes it fail."""
    fork, made = workers.fork_holding_signals, [0]

    def flaky(in_parent: Any) -> int:
        made[0] += 1
        if made[0] > working:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return fork(in_parent)

    monkeypatch.setattr(workers, "fork_holding_signals", flaky)


def test_a_fold_whose_worker_cannot_be_forked_is_folded_here_and_none_is_left_out(
    sqlite_url: str, shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = os.getpid()
    here: list[str] = []

    def work(ledger: Ledger, views: list[View[Any]], progress: Any) -> dict[str, int]:
        if os.getpid() == parent:
            here.append(views[0].name)
        return {view.name: 1 for view in views}

    with sample(sqlite_url, ("tests.replay_plugin",)) as ledger:
        views = replayable_views(ledger)
        assert len(workers.by_fold(views)) > 4  # more folds than workers can be started
        forks_failing_after(monkeypatch, 2)
        counts = workers.share_out(ledger, views, work, as_of=AS_OF, head=ledger.store.head().position, jobs=2)
    assert counts == {view.name: 1 for view in views}
    assert len(here) == len(workers.by_fold(views)) - 2


def test_after_a_worker_fails_no_fold_is_started_even_here(
    sqlite_url: str, shared: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = os.getpid()
    here: list[str] = []

    def work(ledger: Ledger, views: list[View[Any]], progress: Any) -> dict[str, int]:
        if os.getpid() != parent:
            raise PluginError(f"plugin p: view {views[0].name} failed")
        here.append(views[0].name)
        time.sleep(0.5)  # the worker fails meanwhile
        return {view.name: 1 for view in views}

    with sample(sqlite_url, ("tests.replay_plugin",)) as ledger:
        forks_failing_after(monkeypatch, 1)
        with pytest.raises(PluginError, match=r"^plugin p: view \S+ failed$"):
            workers.share_out(ledger, replayable_views(ledger), work, as_of=AS_OF, head=ledger.store.head().position, jobs=2)
    assert len(here) == 1  # the one begun before the failure was known
