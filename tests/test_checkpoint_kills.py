"""A save killed at any moment leaves the old checkpoint or the new one, whole, and it
loads (issue 26, item 4; the mechanism is in ``elman.checkpoint``'s module doc).

Three ways to kill it, each followed by the same check (``check_old_or_new``):

- at each of its steps: a child process (forked) saves with ``checkpoint._reached``
  replaced by a hook that sends it SIGKILL or SIGINT at step k, for every k, in four
  cases (a first save, a save over one with the same files, over one with other files,
  over one of format 2); then the next save is killed at each step of its settling of
  the killed one, and a last save must leave exactly its own checkpoint;
- at random moments: a child saves four checkpoints in turn, as fast as it can, in the
  one directory, each child starting from what the last kill left, and is killed after a
  random delay (20 kills here, 250 in the ``slow`` test), alternately with SIGKILL and
  SIGINT; a shared page says whether the kill landed inside a save, and after which step;
- in the command line, as the issue saw it: ``elman train --overwrite`` stopped during
  its first checkpoint write; and a run killed between an epoch's best model and its
  training state, then resumed (the files of an unbroken run, byte for byte).

The check: ``elman.load`` (and the generic reader, tensor digests compared) gives the
old checkpoint or the new one; once settled as the next save settles it first, the
directory holds exactly that checkpoint's files, byte for byte, nothing hidden, and the
run's other files and a user's file as they were. A SIGINT settles before it stops, so
after one the directory is exact at once; before a save's commit the files under the
checkpoint's names are the old ones, even after SIGKILL.
"""

from __future__ import annotations

import itertools
import mmap
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from elman import checkpoint as files
from tests.test_checkpoint import format_2_tagger, language_model, snapshot, tagger, view

SIGNALS = [signal.SIGKILL, signal.SIGINT]
# The run's other files and a user's: a save never touches them.
OTHERS = {"metrics.jsonl": b'{"event": "epoch"}\n', "train.txt": b"the user's text\n"}


def visible(directory: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(directory).items() if not k.startswith(".")}


class Checkpoints:
    """The checkpoints the tests save, each also saved alone in a reference directory."""

    def __init__(self, root: Path) -> None:
        self.saves: dict[str, Callable[[Path], None]] = {
            "lm one": language_model(1, {"tokenizer.model": b"one"}),
            "lm two": language_model(2, {"tokenizer.model": b"two"}),
            "tagger": tagger(),
            "lm three": language_model(3),
            "format-2 tagger": format_2_tagger,
        }
        self.root = root
        self.views = {}
        for name, save in self.saves.items():
            save(self.reference(name))
            self.views[name] = view(self.reference(name))

    def reference(self, name: str | None) -> Path:
        return self.root / "references" / (name or "none")

    def start(self, directory: Path, name: str | None) -> None:
        """``directory`` holding checkpoint ``name`` (None: none) and the other files."""
        if name is None:
            directory.mkdir(parents=True)
        else:
            shutil.copytree(self.reference(name), directory)
        for other, data in OTHERS.items():
            (directory / other).write_bytes(data)

    def which(self, directory: Path, names: list[str | None]) -> str | None:
        """Which of ``names`` the checkpoint in ``directory`` is, read as a user reads it."""
        got = view(directory)
        found = [name for name in names if (None if name is None else self.views[name]) == got]
        assert found, f"{directory} holds neither of {names}"
        return found[0]

    def exact(self, directory: Path, name: str | None) -> bool:
        """Whether ``directory`` holds checkpoint ``name``'s files exactly, and the others."""
        expected = {} if name is None else snapshot(self.reference(name))
        return snapshot(directory) == dict(sorted({**expected, **OTHERS}.items()))


def check_old_or_new(
    checkpoints: Checkpoints,
    directory: Path,
    old: str | None,
    new: str,
    settled_by_sigint: bool = False,
    untouched: bool = False,
) -> str | None:
    """The checks of the module doc on ``directory``, where a save of ``new`` over ``old``
    was killed; returns which of the two it holds. ``settled_by_sigint``: a SIGINT stopped
    the save, which settles before it stops; ``untouched``: the directory held ``old``'s
    files exactly when the save began."""
    found = checkpoints.which(directory, [old, new])
    if settled_by_sigint:
        assert checkpoints.exact(directory, found)
    if untouched and found == old and old is not None:  # nothing of it changed before the commit
        others = {k: v for k, v in visible(directory).items() if k not in OTHERS}
        assert others == visible(checkpoints.reference(old))
    settled = directory.parent / f"{directory.name}-settled"
    shutil.copytree(directory, settled)
    files._settle(settled)  # what the next save does first
    assert checkpoints.exact(settled, found)
    shutil.rmtree(settled)
    return found


def steps_of(save: Callable[[Path], None], directory: Path) -> list[str]:
    """The steps a save into a copy of ``directory`` goes through."""
    scratch = directory.parent / f"{directory.name}-steps"
    shutil.copytree(directory, scratch)
    steps: list[str] = []
    real, files._reached = files._reached, steps.append
    try:
        save(scratch)
    finally:
        files._reached = real
    shutil.rmtree(scratch)
    return steps


def killed(save: Callable[[Path], None], directory: Path, step: int, sig: int) -> None:
    """Run ``save`` into ``directory`` in a child process that ``sig`` stops at its
    ``step``-th step (from 0), and check that it did."""
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        code = 0
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as in a shell
            count = itertools.count()

            def kill_at_the_step(name: str) -> None:
                if next(count) == step:
                    os.kill(os.getpid(), sig)

            files._reached = kill_at_the_step
            save(directory)
        except KeyboardInterrupt:
            code = 130
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    status = wait(pid)
    if sig == signal.SIGKILL:
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    else:
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 130


def wait(pid: int, timeout: float = 120) -> int:
    """The wait status of child ``pid``, which must end within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.001)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"the child {pid} did not stop within {timeout} s")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Checkpoints:
    return Checkpoints(tmp_path_factory.mktemp("checkpoints"))


CASES = {  # the checkpoint in the directory, and the one saved over it
    "a first save": (None, "lm one"),
    "a save over one with the same files": ("lm one", "lm two"),
    "a save over one with other files": ("lm one", "tagger"),
    "a save over one of format 2": ("format-2 tagger", "lm two"),
}


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("case", CASES)
def test_a_save_killed_at_each_step_leaves_the_old_checkpoint_or_the_new(
    checkpoints, tmp_path, case, sig
):
    """Killed at every step: the old checkpoint before the commit, the new one from it on
    (both seen); then the next save, itself killed at each step of its settling of the
    killed one, and a last save that leaves exactly its own checkpoint."""
    old, new = CASES[case]
    start = tmp_path / "start"
    checkpoints.start(start, old)
    steps = steps_of(checkpoints.saves[new], start)
    assert steps.index("staged") < steps.index("committed") < steps.index("settled")
    found = []
    for k, step in enumerate(steps):
        run = tmp_path / f"killed-at-{k}"
        shutil.copytree(start, run)
        killed(checkpoints.saves[new], run, k, sig)
        sigint = sig == signal.SIGINT
        found.append(check_old_or_new(checkpoints, run, old, new, sigint, untouched=True))
        assert found[-1] == (old if k < steps.index("committed") else new), step
        after = checkpoints.saves["lm three"]
        settling = list(itertools.takewhile(lambda s: not s.startswith("staged"),
                                            steps_of(after, run)))  # fmt: skip
        for j in range(len(settling)):
            again = tmp_path / f"killed-at-{k}-then-at-{j}"
            shutil.copytree(run, again)
            killed(after, again, j, sig)
            assert check_old_or_new(checkpoints, again, found[-1], "lm three", sigint) == found[-1]
            after(again)
            assert checkpoints.exact(again, "lm three")
        after(run)
        assert checkpoints.exact(run, "lm three")
    assert set(found) == {old, new}


# Where a random kill landed: the category of the last step the child had reached.
LANDED = ["between saves", "writing its first file", "settling the save killed before",
          "staging the files", "staged, before the commit", "committed, settling",
          "settled, returning"]  # fmt: skip


def landed(step: str, staging_started: bool) -> int:
    """Where a save stands once it has reached ``step`` (an index into ``LANDED``)."""
    if step == "staged":
        place = "staged, before the commit"
    elif step.startswith("staged "):
        place = "staging the files"
    elif step == "committed" or staging_started and step.startswith(("installed", "removed")):
        place = "committed, settling"
    elif step == "settled" and staging_started:
        place = "settled, returning"
    else:  # the first steps of a save into a directory a kill left unsettled
        place = "settling the save killed before"
    return LANDED.index(place)


def random_kills(checkpoints: Checkpoints, directory: Path, kills: int, seed: int) -> Counter:
    """Kill a child saving four checkpoints in turn, ``kills`` times, each time after a
    random delay, and check the directory after each kill; return where the
    kills landed (``LANDED``)."""
    order = ["lm one", "tagger", "lm two", "lm three"]  # other files, and back
    rng = np.random.default_rng(seed)
    window = 3 * save_seconds(checkpoints, directory.parent / "timing")
    shared = mmap.mmap(-1, 24)  # saves begun, saves done, where the last step was
    current: str | None = None  # the checkpoint in the directory
    directory.mkdir()
    for name, data in OTHERS.items():
        (directory / name).write_bytes(data)
    where: Counter = Counter()
    for i in range(kills):
        first = 0 if current is None else (order.index(current) + 1) % len(order)
        untouched = checkpoints.exact(directory, current)
        struct.pack_into("qqq", shared, 0, 0, 0, 0)
        sig = SIGNALS[i % 2]
        # SIGINT waits until the child has its handler (inside its try: never into pytest).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        pid = os.fork()
        if pid == 0:
            save_until_stopped(checkpoints, directory, order[first:] + order[:first], shared)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        time.sleep(rng.uniform(0, window))
        os.kill(pid, sig)
        wait(pid)
        begun, done, category = struct.unpack_from("qqq", shared, 0)
        old = current if done == 0 else order[(first + done - 1) % len(order)]
        inside = begun > done
        where[LANDED[category] if inside else LANDED[0]] += 1
        new = order[(first + done) % len(order)] if inside else old
        # A SIGINT settles the directory if it lands in a save, or after a whole one; one
        # landing before the child's first save leaves what the last kill left.
        untouched = untouched or done > 0  # a save that ended leaves its files exactly
        settled = sig == signal.SIGINT and (untouched or category > 1)
        current = check_old_or_new(checkpoints, directory, old, new, settled, untouched)
    return where


def save_until_stopped(
    checkpoints: Checkpoints, directory: Path, order: list[str], shared: mmap.mmap
) -> None:
    """In a child process: save the checkpoints ``order`` names in turn into ``directory``
    until killed, noting in ``shared`` the saves begun and done and where the last save
    stands (``LANDED``). It never returns (into pytest)."""
    try:
        staging_started, stopped = False, False

        def ctrl_c(signum: int, frame: object) -> None:
            nonlocal stopped
            stopped = True  # the steps of the settling that follows are not noted
            raise KeyboardInterrupt

        def note(step: str) -> None:
            nonlocal staging_started
            staging_started = staging_started or step.startswith("staged")
            if not stopped:
                struct.pack_into("q", shared, 16, landed(step, staging_started))

        signal.signal(signal.SIGINT, ctrl_c)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        files._reached = note
        for n in itertools.count():
            staging_started = False
            struct.pack_into("qqq", shared, 0, n + 1, n, LANDED.index("writing its first file"))
            checkpoints.saves[order[n % len(order)]](directory)
            struct.pack_into("qqq", shared, 0, n + 1, n + 1, 0)
    finally:
        os._exit(1)


def save_seconds(checkpoints: Checkpoints, directory: Path) -> float:
    """The median time of a save, here and now."""
    times = []
    for name in ["lm one", "tagger", "lm two"] * 3:
        start = time.perf_counter()
        checkpoints.saves[name](directory)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def report(where: Counter) -> str:
    inside = sum(n for place, n in where.items() if place != LANDED[0])
    parts = ", ".join(f"{where[place]} {place}" for place in LANDED if where[place])
    return f"{sum(where.values())} kills, {inside} inside a save: {parts}"


def test_random_kills_of_a_process_saving_checkpoints(checkpoints, tmp_path):
    where = random_kills(checkpoints, tmp_path / "run", kills=20, seed=0)
    print(report(where))
    assert sum(where.values()) == 20
    assert where[LANDED[0]] <= 10, report(where)  # most land inside a save


@pytest.mark.slow
def test_random_kills_of_a_process_saving_checkpoints_250_times(checkpoints, tmp_path):
    where = random_kills(checkpoints, tmp_path / "run", kills=250, seed=1)
    print(report(where))
    assert where[LANDED[0]] <= 125, report(where)
    assert where["committed, settling"] > 0, report(where)


# The command line, as the issue saw it: Ctrl-C (or a kill) during the first checkpoint
# write of `elman train --overwrite` over an earlier run.
# The command, stopped by STOP_WITH when a save reaches step STOP_AT for the STOP_COUNT-th
# time (1 if not set).
STOPPED_AT_A_STEP = """
import os, signal, sys
from elman import checkpoint
from elman.cli import main
step, sig = os.environ["STOP_AT"], getattr(signal, os.environ["STOP_WITH"])
left = [int(os.environ.get("STOP_COUNT", "1"))]
signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as in a shell
def stop(reached):
    left[0] -= reached == step
    if reached == step and left[0] == 0:
        os.kill(os.getpid(), sig)
checkpoint._reached = stop
sys.exit(main(sys.argv[1:]))
"""
TRAIN = ["--hidden", "16", "--embed", "8", "--batch", "2", "--bptt", "8", "--epochs", "1",
         "--threads", "1"]  # fmt: skip


def train(tmp_path: Path, out: Path, text: str, stop: tuple[str, int] | None = None):
    args = ["train", "--train", str(tmp_path / text), "--out", str(out), *TRAIN]
    if stop is None:
        return subprocess.run([sys.executable, "-m", "elman", *args], capture_output=True)
    env = {**os.environ, "STOP_AT": stop[0], "STOP_WITH": signal.Signals(stop[1]).name}
    command = [sys.executable, "-c", STOPPED_AT_A_STEP, *args, "--overwrite"]
    return subprocess.run(command, capture_output=True, env=env)


@pytest.mark.parametrize(
    ("step", "sig"),
    [
        ("staged vocab.json", signal.SIGINT),
        ("committed", signal.SIGINT),
        pytest.param("staged", signal.SIGKILL, marks=pytest.mark.slow),
        pytest.param("installed model.safetensors", signal.SIGKILL, marks=pytest.mark.slow),
    ],
    ids=str,
)
def test_train_overwrite_stopped_during_its_first_checkpoint_write(tmp_path, step, sig):
    """The old run's checkpoint or the new run's first one, whole, and it loads: before
    the first save's commit the old one, from it on the new one (the same command stopped
    right after its first save gives it)."""
    (tmp_path / "old.txt").write_text("the old text of the old run\n" * 40, encoding="utf-8")
    (tmp_path / "new.txt").write_text("a new and different text\n" * 40, encoding="utf-8")
    old, new, out = tmp_path / "old", tmp_path / "new", tmp_path / "out"
    assert train(tmp_path, old, "old.txt").returncode == 0
    shutil.copytree(old, out)
    stopped = train(tmp_path, new, "new.txt", ("settled", signal.SIGKILL))
    assert stopped.returncode == -signal.SIGKILL
    result = train(tmp_path, out, "new.txt", (step, sig))
    assert result.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    if sig == signal.SIGINT:
        assert result.stderr.decode().strip().endswith("elman: interrupted")
    expected = old if step.startswith("staged") else new
    assert view(out) == view(expected)
    files._settle(out)
    checkpoint_files = {"config.json", "vocab.json", "model.safetensors"}
    assert {k: v for k, v in snapshot(out).items() if k in checkpoint_files} == {
        k: v for k, v in snapshot(expected).items() if k in checkpoint_files
    }
    assert not [name for name in os.listdir(out) if name.startswith(".")]


RESUMABLE = ["--valid", "valid.txt", "--epochs", "2", "--threads", "1", "--hidden", "16",
             "--embed", "8", "--batch", "2", "--bptt", "8"]  # fmt: skip


@pytest.mark.parametrize(
    "step", ["settled", pytest.param("committed", marks=pytest.mark.slow)], ids=str
)
def test_a_run_killed_between_its_best_model_and_its_training_state_resumes_exactly(tmp_path, step):
    """At an epoch's end the best model is saved (task.save), then the training state.
    A run killed with SIGKILL between the two (after the checkpoint's commit, or after
    the whole save) has a checkpoint newer than its state: resumed, it trains from that
    state again and ends with the files of a run never interrupted, byte for byte."""
    text = "".join(f"line {i}: the quick brown fox {i % 5}\n" for i in range(30))
    (tmp_path / "train.txt").write_text(text, encoding="utf-8")
    (tmp_path / "valid.txt").write_text(text[:200], encoding="utf-8")
    args = ["train", "--train", "train.txt", *RESUMABLE]
    whole = subprocess.run([sys.executable, "-m", "elman", *args, "--out", "whole"],
                           cwd=tmp_path, capture_output=True)  # fmt: skip
    assert whole.returncode == 0, whole.stderr
    env = {**os.environ, "STOP_AT": step, "STOP_WITH": "SIGKILL", "STOP_COUNT": "2"}
    killed = subprocess.run([sys.executable, "-c", STOPPED_AT_A_STEP, *args, "--out", "cut"],
                            cwd=tmp_path, env=env, capture_output=True)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr  # after epoch 1's save
    info = files.read_config(tmp_path / "cut")["info"]
    _, header = files.read_tensors(tmp_path / "cut" / "resume.safetensors")
    assert info["epoch"] == 1 and header["resume"]["progress"]["step"] < info["step"]
    resumed = subprocess.run([sys.executable, "-m", "elman", "train", "--resume", "cut"],
                             cwd=tmp_path, capture_output=True)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    for name in ("model.safetensors", "vocab.json", "resume.safetensors"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert not (tmp_path / "cut" / ".staged").exists()
