"""Interrupted training resumes exactly, and damaged files are refused.

The runs are real `elman train` processes on a tiny corpus; "identical" means the
saved tensors are equal byte for byte.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import safetensors
import safetensors.numpy

from elman import checkpoint as files
from elman.errors import ElmanError
from elman.lm import checkpoint
from elman.training import RESUME_FILE

TEXT = "".join(
    f"line {i}: the quick brown fox jumps over the lazy dog {i % 7}\n" for i in range(80)
)
# An LSTM with locked dropout and streams restarting every 3 chunks, so that the
# optimiser, the carried (h, c) and the dropout generator all have to come back exactly.
SETTINGS = [
    "--restart-every",
    "3",
    "--hidden",
    "48",
    "--embed",
    "16",
    "--batch",
    "4",
    "--bptt",
    "16",
    "--epochs",
    "3",
    "--cell",
    "lstm",
    "--dropout",
    "0.2",
    "--dropout-kind",
    "locked",
    "--save-every",
    "7",
    "--log-every",
    "5",
    # One BLAS thread throughout: a count chosen by timing could differ between the runs
    # compared, and one and two threads round some products differently (elman.blas).
    "--threads",
    "1",
]


def start(tmp_path, out, *extra, train="train.txt", valid="valid.txt"):
    env = {**os.environ, "PYTHONUTF8": "1"}
    args = [
        sys.executable,
        "-m",
        "elman",
        "train",
        "--train",
        str(tmp_path / train),
        "--valid",
        str(tmp_path / valid),
        "--out",
        str(out),
        *SETTINGS,
        *extra,
    ]
    return subprocess.Popen(
        args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def saved_step(out):
    """The step of the training state on disk, or -1 while there is none."""
    try:
        with safetensors.safe_open(out / RESUME_FILE, "numpy") as f:
            return json.loads(f.metadata()["elman"])["resume"]["progress"]["step"]
    except (OSError, safetensors.SafetensorError, KeyError):
        return -1


def wait_for_step(process, out, step):
    deadline = time.monotonic() + 60
    while saved_step(out) < step:
        assert process.poll() is None, "training ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)


def same_tensors(a, b):
    x, y = safetensors.numpy.load_file(a), safetensors.numpy.load_file(b)
    return x.keys() == y.keys() and all(x[k].tobytes() == y[k].tobytes() for k in x)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("resume")
    (d / "train.txt").write_text(TEXT, encoding="utf-8")
    (d / "valid.txt").write_text(TEXT[:400], encoding="utf-8")
    full = start(d, d / "full")
    assert full.wait() == 0, full.stderr.read()
    return d


def test_sigkill_mid_epoch_then_resume_gives_bit_identical_weights(corpus):
    cut = start(corpus, corpus / "killed")
    wait_for_step(cut, corpus / "killed", 30)
    cut.send_signal(signal.SIGKILL)
    cut.wait()
    interrupted_at = saved_step(corpus / "killed")
    assert 30 <= interrupted_at < 3 * 90  # mid-run, not at its end

    resumed = subprocess.run(
        [sys.executable, "-m", "elman", "train", "--resume", str(corpus / "killed")],
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    for name in ("model.safetensors", RESUME_FILE):
        assert same_tensors(corpus / "full" / name, corpus / "killed" / name), name
        assert (corpus / "full" / name).read_bytes() == (corpus / "killed" / name).read_bytes()
    epochs = [json.loads(line) for line in (corpus / "killed" / "metrics.jsonl").open()]
    assert [r["epoch"] for r in epochs if r["event"] == "epoch"] == [1, 2, 3]


def test_sigkill_then_resume_from_a_prepared_corpus_gives_bit_identical_weights(corpus):
    """Read from a memory map of a prepared corpus, as the text in memory: the weights of
    an interrupted and resumed run are those of the uninterrupted run on the text."""
    prepared = subprocess.run(
        [sys.executable, "-m", "elman", "prepare", "--train", str(corpus / "train.txt"),
         "--valid", str(corpus / "valid.txt"), "--out", str(corpus / "prepared")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    out = corpus / "killed-prepared"
    cut = start(corpus, out, train="prepared", valid="prepared/valid.bin")
    wait_for_step(cut, out, 30)
    cut.send_signal(signal.SIGKILL)
    cut.wait()
    assert 30 <= saved_step(out) < 3 * 90
    resumed = subprocess.run(
        [sys.executable, "-m", "elman", "train", "--resume", str(out)],
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    for name in ("model.safetensors", RESUME_FILE):
        assert same_tensors(corpus / "full" / name, out / name), name


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_save_and_say_how_to_resume(corpus, sig):
    out = corpus / f"stopped-{sig.name}"
    run = start(corpus, out)
    wait_for_step(run, out, 10)
    run.send_signal(sig)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130
    assert f"elman train --resume {out}" in stderr and "Traceback" not in stderr
    assert saved_step(out) >= 10
    resumed = subprocess.run(
        [sys.executable, "-m", "elman", "train", "--resume", str(out)],
        capture_output=True,
        text=True,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert same_tensors(corpus / "full" / "model.safetensors", out / "model.safetensors")


def test_resume_refuses_a_changed_text_and_new_settings(corpus, tmp_path):
    out = tmp_path / "run"
    run = start(corpus, out, "--max-steps", "10")
    assert run.wait() == 0
    changed = subprocess.run(
        [sys.executable, "-m", "elman", "train", "--resume", str(out), "--hidden", "64"],
        capture_output=True,
        text=True,
    )
    assert changed.returncode == 2 and "takes no --hidden" in changed.stderr
    more = subprocess.run(
        [sys.executable, "-m", "elman", "train", "--resume", str(out), "--max-steps", "20"],
        capture_output=True,
        text=True,
    )
    assert more.returncode == 0, more.stderr
    assert saved_step(out) == 20


def test_resume_refuses_a_changed_training_text(tmp_path):
    (tmp_path / "train.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "valid.txt").write_text(TEXT[:400], encoding="utf-8")
    run = start(tmp_path, tmp_path / "run", "--max-steps", "5")
    assert run.wait() == 0
    (tmp_path / "train.txt").write_text(TEXT + "one more line\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "elman", "train", "--resume", str(tmp_path / "run")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "changed since the run" in result.stderr and "Traceback" not in result.stderr


def test_truncated_files_are_refused_at_every_offset(corpus):
    """Every file of a checkpoint cut at random offsets: loading refuses each one
    with an ElmanError (a clear sentence), never a crash or a silently wrong model."""
    rng = np.random.default_rng(0)
    source = corpus / "full"
    for name in ("model.safetensors", "config.json", "vocab.json", RESUME_FILE):
        data = (source / name).read_bytes()
        for offset in sorted(rng.choice(len(data), size=12, replace=False)):
            damaged = corpus / f"damaged-{name}-{offset}"
            damaged.mkdir()
            for other in ("model.safetensors", "config.json", "vocab.json", RESUME_FILE):
                (damaged / other).write_bytes((source / other).read_bytes())
            (damaged / name).write_bytes(data[:offset])
            with pytest.raises(ElmanError):
                if name == RESUME_FILE:
                    files.read_tensors(damaged / name)
                else:
                    checkpoint.load(damaged)


def test_a_flipped_byte_in_the_weights_fails_the_content_hash(corpus, tmp_path):
    for name in ("model.safetensors", "config.json", "vocab.json"):
        (tmp_path / name).write_bytes((corpus / "full" / name).read_bytes())
    data = bytearray((tmp_path / "model.safetensors").read_bytes())
    data[-3] ^= 0x01  # the last weights, far from the header
    (tmp_path / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(ElmanError, match="damaged: its content does not match the hash"):
        checkpoint.load(tmp_path)


def test_disk_full_while_training_is_one_sentence_and_keeps_the_last_state(
    corpus, tmp_path, monkeypatch, capsys
):
    """The disk fills up at the third save of the training state (after those at the
    start and at step 7): exit code 2, one line naming the problem, and the state
    saved before it loads as it was."""
    import errno

    from elman import cli
    from elman import training as resume_module

    real_write, calls = resume_module.write_tensors, []

    def fill_up(path, tensors, metadata=None):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, tensors, metadata)

    monkeypatch.setattr(resume_module, "write_tensors", fill_up)
    out = tmp_path / "run"
    code = cli.main(["train", "--train", str(corpus / "train.txt"), "--out", str(out), *SETTINGS])
    assert code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the closed progress bar
    assert last.startswith(f"elman: error: cannot write to {out}: No space left on device")
    assert last.endswith(
        f"free some disk space, then continue from the training state saved at step 7 with: "
        f"elman train --resume {out}"
    )
    assert saved_step(out) == 7
    checkpoint.load(out)
