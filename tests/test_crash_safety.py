"""A writer killed at any moment leaves the ledger whole: the batch is stored entirely or not at all.

Real processes appending a few thousand facts are killed with SIGKILL at moments spread over
the append; after each kill the ledger opens (its hash chain intact), holds either none or all
of the batch, and verifies end to end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.api import Ledger

FACTS = 3_000
KILLS = (0.3, 0.6, 0.9, 1.2, 1.5, 1.8)
"""Seconds after the start of the append: from start-up, through validation, into the commit."""


@pytest.fixture
def url(ledger_url: str) -> str:
    return ledger_url


def _batch(path: Path, round_: int) -> None:
    lines = [
        {
            "kind": "party.registered",
            "effective": "2020-01-01",
            "key": f"p-{round_}-{n}",
            "party": f"co-{round_}-{n}",
            "name": f"Company {n}",
            "type": "company",
            "sectors": ["ai"],
        }
        for n in range(FACTS)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_killed_append_leaves_all_or_nothing(url: str, tmp_path: Path) -> None:
    Ledger(url).close()
    expected = 0
    for round_, delay in enumerate(KILLS):
        batch = tmp_path / f"batch-{round_}.jsonl"
        _batch(batch, round_)
        process = subprocess.Popen(
            [sys.executable, "-c", "import cli; cli.main()", "--url", url, "append", "--file", str(batch)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=Path(__file__).parent.parent,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        )
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        with Ledger(url) as ledger:  # opening checks the chain's head
            head = ledger.store.head().position
            assert head in (expected, expected + FACTS), f"kill {round_} at {delay}s left {head} facts"
            expected = head
            assert ledger.store.verify() == []


def test_a_full_disk_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """The file may not grow past a limit (as on a full disk): the append fails whole, the ledger stays as it was."""
    import resource

    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    _batch(first, 0)
    _batch(second, 1)
    with Ledger(url) as ledger:
        from ledger.importing import incoming_from_path

        ledger.append(incoming_from_path(ledger.catalogue, str(first)))
    size = (tmp_path / "ledger.db").stat().st_size

    def full_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100_000, size + 100_000))

    result = subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", "--url", url, "append", "--file", str(second)],
        capture_output=True,
        text=True,
        preexec_fn=full_disk,
        cwd=Path(__file__).parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: cannot write to the store {url}: ") and result.stderr.count("\n") == 1
    with Ledger(url) as ledger:
        assert ledger.store.head().position == FACTS
        assert ledger.store.verify() == []


def test_a_plugin_that_never_finishes_corrupts_nothing(url: str, tmp_path: Path) -> None:
    """Readers go on answering while it hangs; killed, it leaves the ledger as it was and the next writer goes on."""
    from click.testing import CliRunner

    from cli import main

    first = tmp_path / "first.jsonl"
    _batch(first, 0)
    runner = CliRunner()
    assert runner.invoke(main, ["--url", url, "append", "--file", str(first)]).exit_code == 0
    hang = json.dumps(
        {
            "kind": "party.registered",
            "effective": "2021-01-01",
            "key": "hang",
            "party": "hanger",
            "name": "Hanger",
            "type": "company",
        }
    )
    (tmp_path / "hang.jsonl").write_text(hang + "\n")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import cli; cli.main()",
            "--url",
            url,
            "--plugin",
            "tests.hanging_plugin",
            "append",
            "--file",
            str(tmp_path / "hang.jsonl"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).parent.parent,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
    )
    time.sleep(3)
    assert process.poll() is None  # still hanging
    view = runner.invoke(main, ["--url", url, "view", "ownership", "--format", "json"])
    assert view.exit_code == 0  # readers are not held up
    process.send_signal(signal.SIGKILL)
    process.wait()
    other = tmp_path / "other.jsonl"
    _batch(other, 1)
    assert runner.invoke(main, ["--url", url, "append", "--file", str(other)]).exit_code == 0
    with Ledger(url) as ledger:
        assert ledger.store.head().position == 2 * FACTS
        assert "hanger" not in ledger.parties()
        assert ledger.store.verify() == []


ROOT = Path(__file__).parent.parent
CLI = [sys.executable, "-c", "import cli; cli.run()"]


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def _replayed_once(
    url: str, tmp_path: Path, plugin: str, *more: Path, jobs: int = 1
) -> tuple[list[str], dict[str, str], Path, dict[str, bytes]]:
    """The sample story (and the facts in ``more``) appended, then replayed once into a folder with ``plugin``: the
    options of another replay into that folder (its date left out), the environment, the folder and its files."""
    from ledger.importing import incoming_from_path

    with Ledger(url) as ledger:
        for path in (ROOT / "examples" / "story.jsonl", *more):
            ledger.append(incoming_from_path(ledger.catalogue, str(path)))
    out = tmp_path / "out"
    options = ["--url", url, "--plugin", plugin, "replay", "--out", str(out), "--format", "csv", "--jobs", str(jobs)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([*CLI, *options, "--as-of", "2024-12-31"], check=True, cwd=ROOT, env=env, capture_output=True)
    return options, env, out, _files(out)


def _ends_at_once_leaving_the_files(command: list[str], env: dict[str, str], out: Path, before: dict[str, bytes]) -> None:
    """``command``, told to stop and losing the stop, ends with 128 + SIGTERM before the watchdog would have ended
    it, the files in ``out`` as they were."""
    from ledger.stopping import GRACE

    began = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr.decode()
    assert time.monotonic() - began < GRACE, "ended by the watchdog, not by the stop"
    assert _files(out) == before


def test_a_terminated_replay_leaves_no_partial_file(url: str, tmp_path: Path) -> None:
    """SIGTERM (a stopped container, ``kill``) ends ``dealledger`` as Ctrl-C does: through its ``finally`` blocks,
    so the files a replay was writing are removed, and the earlier files stay as they were."""
    options, env, out, before = _replayed_once(url, tmp_path, "tests.replay_plugin")
    told = tmp_path / "stderr.txt"
    with told.open("wb") as stderr:
        process = subprocess.Popen(
            [*CLI, *options, "--as-of", "2023-12-31"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            cwd=ROOT,
            env={**env, "DEALLEDGER_TEST_STALL": "1"},
        )
    deadline = time.monotonic() + 60
    while not any(path.name.endswith(".partial") and path.stat().st_size for path in out.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, "the replay never began writing"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    status = process.wait(timeout=60)  # the watchdog ends it within ``GRACE`` seconds, with its tracebacks
    assert status == 128 + signal.SIGTERM, told.read_text()
    assert _files(out) == before


def test_a_stop_that_c_code_swallowed_still_ends_the_replay_through_its_finally_blocks(url: str, tmp_path: Path) -> None:
    """A stop raised inside an extension module's import is turned into an ``ImportError`` and caught (a replay
    went on writing, until the watchdog ended it after ``GRACE`` seconds, status 1, its partial files left
    behind). It is raised again before the files are moved into place: status 128 + SIGTERM, at once, and the
    earlier files as they were."""
    options, env, out, before = _replayed_once(url, tmp_path, "tests.replay_plugin")
    again = [*CLI, *options, "--as-of", "2023-12-31"]
    _ends_at_once_leaving_the_files(again, {**env, "DEALLEDGER_TEST_SWALLOW": "1"}, out, before)


def _more_facts(path: Path, count: int) -> None:
    """``count`` exchange rates, one a day from 2010: facts enough for a fold to pass a few progress steps."""
    from datetime import date, timedelta

    start = date(2010, 1, 1)
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            day = (start + timedelta(days=n)).isoformat()
            line = {"kind": "fx.rate", "effective": day, "key": f"rate-{n}", "base": "USD", "quote": "EUR", "rate": "0.9"}
            out.write(json.dumps(line) + "\n")


@pytest.mark.parametrize("lost", ["fold", "party"])
def test_a_stop_lost_while_folding_or_answering_is_raised_again_before_the_next_step(lost: str, url: str, tmp_path: Path) -> None:
    """A stop lost in a fold is raised again within ``PROGRESS_STEP`` facts, one lost answering a party before the
    next party: the replay ends with 128 + SIGTERM at once, where it went on to a stall the watchdog ended (status
    1, partial files left), and the earlier files stay as they were."""
    rates = tmp_path / "rates.jsonl"
    _more_facts(rates, 1_200)
    options, env, out, before = _replayed_once(url, tmp_path, "tests.stop_plugin", rates)
    again = [*CLI, *options, "--as-of", "2023-12-31"]
    _ends_at_once_leaving_the_files(again, {**env, "DEALLEDGER_TEST_LOSE": lost}, out, before)


def test_a_stop_lost_while_a_batch_is_checked_is_raised_before_it_commits(url: str, tmp_path: Path) -> None:
    """A stop lost while the batch is checked is raised again before its commit: 128 + SIGTERM and nothing stored,
    where the batch was stored and the command said so (status 0)."""
    rates = tmp_path / "rates.jsonl"
    _more_facts(rates, 10)
    command = [*CLI, "--url", url, "--plugin", "tests.stop_plugin", "append", "--file", str(rates)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DEALLEDGER_TEST_LOSE": "append"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=120)
    assert (done.returncode, done.stdout) == (128 + signal.SIGTERM, b""), done.stderr.decode()
    with Ledger(url) as ledger:
        assert ledger.records() == []


SHARED_AND_LOSING = """
import contextlib, os, signal
import ledger.workers as workers
workers.SHARED_FROM = 0
shown, lost, parent = workers._Sharing._show, [], os.getpid()
def _show(self):
    if os.getpid() == parent and self.started == len(self.groups) and not lost:
        lost.append(True)
        with contextlib.suppress(BaseException):
            signal.raise_signal(signal.SIGTERM)
    shown(self)
workers._Sharing._show = _show
import cli; cli.run()
"""
"""A replay shared out however small the ledger, which loses one stop once every fold has its worker."""


def test_a_stop_lost_by_a_shared_replay_that_waits_on_its_workers_is_raised_again(url: str, tmp_path: Path) -> None:
    """The process sharing a replay out folds nothing: a stop it lost while it waits on its workers is raised at its
    next look at them (every 0.2 s), the workers stopped, where it waited on a stalled one until the watchdog ended
    it (status 1, partial files left)."""
    options, env, out, before = _replayed_once(url, tmp_path, "tests.replay_plugin", jobs=2)
    again = [sys.executable, "-c", SHARED_AND_LOSING, *options, "--as-of", "2023-12-31"]
    _ends_at_once_leaving_the_files(again, {**env, "DEALLEDGER_TEST_STALL": "1"}, out, before)


@contextlib.contextmanager
def _a_stop_lost() -> Iterator[None]:
    """This process told to stop, the stop lost as C code loses it; forgotten afterwards, with the watchdog it armed
    (this process goes on testing)."""
    import faulthandler

    from ledger import stopping

    with contextlib.suppress(SystemExit):
        stopping._terminated(signal.SIGTERM, None)
    try:
        yield
    finally:
        stopping._told.clear()
        stopping._raised.clear()
        stopping._armed.clear()
        faulthandler.cancel_dump_traceback_later()


def test_a_report_or_an_ocf_package_is_not_put_in_place_after_a_lost_stop(url: str, tmp_path: Path) -> None:
    """Both are written beside their place and then moved there: a stop lost while they were built is raised before
    they move, and nothing is left."""
    from ledger.importing import incoming_from_path
    from ledger.ocf.package import build, write
    from ledger.report import write_report

    root = Path(__file__).parent.parent
    with Ledger(url) as ledger:
        ledger.append(incoming_from_path(ledger.catalogue, str(root / "examples" / "story.jsonl")))
        package = build(ledger, "moonshot-ai")
        out = tmp_path / "out"
        out.mkdir()
        with _a_stop_lost(), pytest.raises(SystemExit) as stopped:
            write_report(ledger, out / "report.html")
        assert stopped.value.code == 128 + signal.SIGTERM
        with _a_stop_lost(), pytest.raises(SystemExit):
            write(package, out / "ocf")
    assert [path.name for path in out.iterdir()] == ["ocf"]
    assert list((out / "ocf").iterdir()) == []


def test_a_stop_is_raised_again_only_where_it_was_lost() -> None:
    """``raise_lost_stop`` raises a stop that was raised and caught, never one still on its way out (in a
    ``finally``, or in what an ``except`` of it does), and nothing when no stop was raised."""
    import faulthandler

    from ledger import stopping

    try:
        stopping.raise_lost_stop()  # nothing told: nothing raised
        with contextlib.suppress(SystemExit):  # lost, as C code loses it
            stopping._terminated(signal.SIGTERM, None)
        with pytest.raises(SystemExit) as again:
            stopping.raise_lost_stop()
        assert again.value.code == 128 + signal.SIGTERM
        with pytest.raises(SystemExit):
            try:
                raise SystemExit(128 + signal.SIGTERM)
            finally:
                stopping.raise_lost_stop()  # on its way out: nothing more raised
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            try:
                raise ValueError("while stopping")
            except ValueError:
                stopping.raise_lost_stop()  # raised while a stop was handled: still on its way out
        with pytest.raises(SystemExit):
            stopping.commit_begins()  # a lost stop is raised before a batch commits
    finally:  # this process goes on testing: no stop noted, no watchdog armed
        stopping._told.clear()
        stopping._raised.clear()
        stopping._armed.clear()
        faulthandler.cancel_dump_traceback_later()


def test_a_process_stuck_after_being_told_to_stop_is_ended_with_its_tracebacks(tmp_path: Path) -> None:
    """A ``finally`` that waits on what the stop broke (a lock a library held when the signal came) must not keep
    a stopped container's process alive until SIGKILL: the watchdog ends it within ``GRACE`` seconds, status 1,
    every thread's traceback on stderr saying where it hung."""
    from ledger.stopping import GRACE

    script = tmp_path / "stuck.py"
    script.write_text(
        "import sys, time\n"
        "from ledger.stopping import install\n"
        "install()\n"
        "try:\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(120)\n"
        "finally:\n"
        "    time.sleep(120)  # stuck in cleanup\n"
    )
    root = Path(__file__).parent.parent
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    stopped = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    took = time.monotonic() - stopped
    assert process.returncode == 1
    assert GRACE - 0.5 <= took < GRACE + 20
    assert 'stuck.py", line 8' in stderr.decode()


def test_a_stop_that_lands_in_a_finaliser_is_not_lost(tmp_path: Path) -> None:
    """Python drops an exception raised inside ``__del__`` (a database driver freeing a result): a Ctrl-C there let
    an append go on and commit, a SIGTERM left the watchdog to end the process as if hung. The stop is raised again
    once the finaliser is left: the ``finally`` blocks run and the status is the signal's."""
    script = tmp_path / "finaliser.py"
    script.write_text(
        "import os, signal, time\n"
        "from ledger.stopping import install\n"
        "install()\n"
        "class Frees:\n"
        "    def __del__(self):\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        time.sleep(0.01)  # the handler runs here, inside the finaliser\n"
        "try:\n"
        "    Frees()\n"
        "    time.sleep(30)\n"
        "    print('went on', flush=True)\n"
        "finally:\n"
        "    print('cleaned up', flush=True)\n"
    )
    root = Path(__file__).parent.parent
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, env={**os.environ, "PYTHONPATH": str(root)}, timeout=60
    )
    assert (done.returncode, done.stdout) == (128 + signal.SIGTERM, b"cleaned up\n"), done.stderr.decode()
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGINT"])
def test_a_stop_during_the_commit_lets_the_append_finish_and_say_what_it_stored(url: str, stop: str) -> None:
    """A stop landing once the batch's rows are written, as the database commits them, ended ``append`` with no word
    (or "Aborted!"), the batch stored: a user, or a script going by the status, tried again and stored its keyless
    facts twice. Past that point the stop cannot stop anything: the command finishes, says what it appended, and
    notes the stop on stderr."""
    story = Path(__file__).parent.parent / "examples" / "story.jsonl"
    stops_in_commit = (
        "import os, signal\n"
        "import ledger.stopping as stopping\n"
        "from ledger.persistence import postgres, sqlalchemy, sqlite\n"
        "def begins():\n"
        "    stopping.commit_begins()\n"
        f"    os.kill(os.getpid(), signal.{stop})  # handled at once, before the commit\n"
        "for module in (postgres, sqlalchemy, sqlite):\n"
        "    module.commit_begins = begins\n"
    )
    done = _append_patched(stops_in_commit, url, story)
    facts = sum(1 for line in story.read_text().splitlines() if line.strip() and not line.startswith("#"))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == f"appended {facts} facts; ledger head #{facts}\n"
    assert done.stderr.decode() == "dealledger: stopped after the batch was stored: the command finished first\n"
    with Ledger(url) as ledger:
        assert len(ledger.records()) == facts


def test_a_stop_before_the_commit_stores_nothing(url: str, tmp_path: Path) -> None:
    """The other side of the commit: a stop while the rows are still being written ends the append at once, and the
    database rolls the batch back."""
    path = tmp_path / "batch.jsonl"
    _batch(path, 0)
    stops_in_inserts = (
        "import os, signal\n"
        "from ledger.persistence import sqlite, postgres\n"
        "real = sqlite.write_index\n"
        "def write_index(*args, **kwargs):\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    return real(*args, **kwargs)\n"
        "sqlite.write_index = postgres.write_index = write_index\n"
    )
    done = _append_patched(stops_in_inserts, url, path)
    assert (done.returncode, done.stdout) == (128 + signal.SIGTERM, b""), done.stderr.decode()
    with Ledger(url) as ledger:
        assert ledger.records() == []


def _append_patched(patch: str, url: str, path: Path) -> subprocess.CompletedProcess[bytes]:
    """``dealledger --url URL append --file PATH`` in a process that first runs ``patch`` (Python source)."""
    root = Path(__file__).parent.parent
    return subprocess.run(
        [sys.executable, "-c", f"{patch}import cli\ncli.run()\n", "--url", url, "append", "--file", str(path)],
        capture_output=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=120,
    )


def test_a_stop_held_through_a_commit_that_fails_is_raised_at_once() -> None:
    """A batch that clashes (another writer took its positions) is checked again and written again: a stop held
    while its commit was tried must not wait for that."""
    import faulthandler

    from ledger import stopping

    try:
        with stopping.held_from_commit():
            stopping.commit_begins()
            stopping._terminated(signal.SIGTERM, None)  # noted and held, not raised
            with pytest.raises(SystemExit) as stopped:
                stopping.commit_failed()
            assert stopped.value.code == 128 + signal.SIGTERM
            with pytest.raises(SystemExit):
                stopping._terminated(signal.SIGTERM, None)  # the commit is over: raised at once again
    finally:  # this process goes on testing: no stop noted, no watchdog armed
        stopping._told.clear()
        stopping._raised.clear()
        stopping._armed.clear()
        faulthandler.cancel_dump_traceback_later()


def test_a_process_told_to_stop_that_ends_in_time_keeps_its_own_status(tmp_path: Path) -> None:
    """The watchdog is only a backstop: a command whose ``finally`` blocks end promptly leaves with 128 + SIGTERM
    and writes no traceback."""
    root = Path(__file__).parent.parent
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time; from ledger.stopping import install; install(); print('ready', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert stderr == b""


def test_the_files_of_a_replay_killed_outright_go_with_the_next_replay_and_a_running_ones_stay(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kill -9`` (the out-of-memory killer) leaves a replay no ``finally``: its partial files stayed for good, a
    hundred megabytes a run at a million facts. The next replay into the folder removes them; the files of a
    replay still writing (held under its lock) are left alone, however old."""
    from ledger import outfolder
    from ledger.replaying import replay_to

    root = Path(__file__).parent.parent
    with Ledger(url) as ledger:
        from ledger.importing import incoming_from_path

        ledger.append(incoming_from_path(ledger.catalogue, str(root / "examples" / "story.jsonl")))
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-c", "import cli; cli.run()", "--url", url, "--plugin", "tests.replay_plugin"]
    process = subprocess.Popen(
        [*command, "replay", "--as-of", "2023-12-31", "--out", str(out), "--format", "csv"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root), "DEALLEDGER_TEST_STALL": "1"},
    )
    deadline = time.monotonic() + 60
    while not any(path.name.endswith(".partial") and path.stat().st_size for path in out.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, "the replay never began writing"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    left = {path.name for path in out.iterdir() if path.name.endswith(".partial")}
    assert left  # nothing could remove them
    # a run still writing, in another process: its file held under its lock, and as old as the others
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_PARTIAL_FILE, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        running = Path(holder.stdout.readline().strip())
        os.utime(running, (0, 0))
        other_tool = out / ".notes.txt.partial"  # not a name a replay gives: never touched
        other_tool.write_text("another program's")
        os.utime(other_tool, (0, 0))
        monkeypatch.setattr(outfolder, "SWEEP_AFTER", 0.0)
        with Ledger(url) as ledger:
            written = replay_to(ledger, out, "csv", None, None)
        names = {path.name for path in out.iterdir()}
        assert not left & names and running.name in names and other_tool.name in names
        assert names == {path.name for _, _, path in written} | {running.name, other_tool.name}
        holder.stdin.close()  # the holding run ends, as if killed: its lock goes with it
        holder.wait(timeout=60)
        assert outfolder.sweep(out) == [running] and not running.exists()
    finally:
        holder.kill()
        holder.wait(timeout=60)


HOLD_A_PARTIAL_FILE = """
import sys
from pathlib import Path
from ledger import outfolder
print(outfolder.partial_file(Path(sys.argv[1]), "another-run.csv"), flush=True)
sys.stdin.read()
"""
