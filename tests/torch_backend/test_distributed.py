"""Data-parallel training with real processes: torchrun, gloo, on the CPU.

Two processes training --batch 8 end with the weights of one process training --batch 8
(to float32 rounding: the all-reduce sums in another order), and a two-process run killed
with SIGKILL and resumed, by two processes or by one, ends where an uninterrupted one does.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors
import safetensors.numpy

pytest.importorskip("torch", reason="the torch backend needs PyTorch")

from elman.checkpoint import read_tensors  # noqa: E402
from elman.cli import main  # noqa: E402
from elman.training import METRICS_FILE, RESUME_FILE  # noqa: E402

# 8 k + 3 lines of unequal lengths: with --state reset the last group of lines has 3, split
# 2 and 1 between two processes, and padding everywhere.
LINES = "".join(f"{'the quick brown fox jumps '[: 5 + i % 19]} {i}\n" for i in range(43))
SMALL = ["--hidden", "16", "--embed", "8", "--bptt", "8", "--batch", "8", "--seed", "5"]
SMALL += ["--log-every", "1", "--save-every", "10", "--optimizer", "adam"]
TORCH = ["--backend", "torch", "--device", "cpu"]


def torchrun(*args: str, processes: int = 2, **popen) -> subprocess.Popen:
    """``torchrun --standalone --nproc_per_node N -m elman train ARGS`` (gloo, a free port)."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", str(processes), "-m", "elman", "train", *args]
    env = {**os.environ, "PYTHONUTF8": "1"}
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen
    )


def finish(process: subprocess.Popen) -> str:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    return output


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            stat = open(f"/proc/{entry}/stat", encoding="ascii").read() if entry.isdigit() else ""
        except OSError:
            continue
        # pid (comm) state ppid ...: the command may hold spaces, so split after ")".
        if stat and int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry))
    return found


def saved_step(out) -> int:
    """The step of the training state in ``out``, or -1 while there is none."""
    try:
        with safetensors.safe_open(str(out / RESUME_FILE), "numpy") as f:
            return json.loads(f.metadata()["elman"])["resume"]["progress"]["step"]
    except (OSError, safetensors.SafetensorError, KeyError):
        return -1


def weights(out) -> dict[str, np.ndarray]:
    return safetensors.numpy.load_file(str(out / RESUME_FILE))


def losses(out) -> list[float]:
    records = [json.loads(line) for line in (out / METRICS_FILE).read_text().splitlines()]
    return [r["loss"] for r in records if r["event"] == "step"]


# Lines reset the state, so batches are padded and the last group has 3 streams for 2
# processes; dropout masks are drawn for all 8 streams whatever the number of processes.
SETTINGS = [*SMALL, "--cell", "lstm", "--layers", "2", "--state", "reset", "--dropout", "0.2"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """An uninterrupted two-process run: its directory and its settings."""
    tmp = tmp_path_factory.mktemp("torchrun")
    text = tmp / "train.txt"
    text.write_text(LINES, encoding="utf-8")
    settings = [*SETTINGS, *TORCH, "--max-steps", "150", "--train", str(text)]
    output = finish(torchrun(*settings, "--out", str(tmp / "whole")))
    assert "in 2 processes" in output
    return tmp / "whole", settings


def test_two_processes_train_as_one(run, tmp_path):
    whole, settings = run
    assert main(["train", *settings, "--out", str(tmp_path / "one")]) == 0
    one, two = weights(tmp_path / "one"), weights(whole)
    assert len(losses(tmp_path / "one")) == len(losses(whole)) == 150
    np.testing.assert_allclose(losses(whole), losses(tmp_path / "one"), rtol=1e-5)
    for name in ("params", "best_params"):
        np.testing.assert_allclose(two[name], one[name], rtol=0, atol=1e-6, err_msg=name)


def test_a_run_killed_under_torchrun_resumes_to_the_uninterrupted_weights(run, tmp_path):
    """SIGKILL to every process once a training state is saved; then resumed by two
    processes (the same weights, exactly) and by one (the same to float32 rounding)."""
    whole, settings = run
    killed = tmp_path / "killed"
    process = torchrun(*settings, "--out", str(killed))
    deadline = time.monotonic() + 120
    # The training state itself, not its "save" record in metrics.jsonl: the record is
    # written first, and a kill between the two (fsync takes a while on a loaded disk)
    # left the state of the save before, at step 18.
    while time.monotonic() < deadline and process.poll() is None and saved_step(killed) < 20:
        time.sleep(0.01)
    # torchrun starts each worker in a session of its own: stop them all at once, then
    # kill them and torchrun for good, as a machine failing would.
    workers = children(process.pid)
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    for pid in [*workers, process.pid]:
        os.kill(pid, signal.SIGKILL)
    process.communicate()
    saved = read_tensors(killed / RESUME_FILE)[1]["resume"]
    assert 20 <= saved["progress"]["step"] < 150, "the run was to be killed part-way"

    again = tmp_path / "again"  # a copy, to resume with one process
    shutil.copytree(killed, again)
    finish(torchrun("--resume", str(killed), "--backend", "torch", "--device", "cpu"))
    expected, resumed = weights(whole), weights(killed)
    for name in ("params", "best_params"):
        np.testing.assert_array_equal(resumed[name], expected[name], err_msg=name)

    assert main(["train", "--resume", str(again), "--backend", "torch", "--device", "cpu"]) == 0
    one = weights(again)
    for name in ("params", "best_params"):
        np.testing.assert_allclose(one[name], expected[name], rtol=0, atol=1e-6, err_msg=name)


def test_the_numpy_engine_trains_in_two_processes_as_in_one(tmp_path):
    """--backend numpy under torchrun: elman's own layers in each process, the flat
    gradient all-reduced through torch.distributed (gloo)."""
    text = tmp_path / "train.txt"
    text.write_text(LINES, encoding="utf-8")
    settings = [*SETTINGS, "--backend", "numpy", "--max-steps", "40", "--train", str(text)]
    two = finish(torchrun(*settings, "--out", str(tmp_path / "two")))
    assert "in 2 processes" in two
    assert main(["train", *settings, "--out", str(tmp_path / "one")]) == 0
    one, both = weights(tmp_path / "one"), weights(tmp_path / "two")
    np.testing.assert_allclose(losses(tmp_path / "two"), losses(tmp_path / "one"), rtol=1e-5)
    for name in ("params", "best_params"):
        np.testing.assert_allclose(both[name], one[name], rtol=0, atol=1e-6, err_msg=name)
