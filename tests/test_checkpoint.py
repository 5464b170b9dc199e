"""The checkpoint writer and reader every kind shares (``elman.checkpoint``): config.json
records every file's SHA-256, further files (a tokenizer's model) go in and come out by
name, a save replaces the checkpoint whole (obsolete files removed, nothing else
touched), older checkpoints are read and replaced, a reader gets a whole checkpoint
while another process saves one after another, and a failed save leaves the old one.
The kills (SIGKILL, SIGINT) at every step and at random moments are in
``tests/test_checkpoint_kills.py``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import elman
from elman import checkpoint as files
from elman.config import ModelConfig, TrainConfig
from elman.data import CharTokenizer
from elman.errors import ElmanError
from elman.lm import checkpoint as lm_checkpoint
from elman.lm.model import LanguageModel
from elman.tag import checkpoint as tag_checkpoint

FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints-eefe27f"
TEXT = "안녕하세요, 세계!\nthe quick brown fox\n"


def language_model(seed: int, extra: dict[str, bytes] | None = None) -> Callable[[Path], None]:
    """A save of a small language model (weights from ``seed``) with ``extra`` files."""
    tokenizer = CharTokenizer.fit(TEXT + "xyz"[: seed % 4])  # the vocabulary differs too
    model = LanguageModel(ModelConfig(vocab_size=len(tokenizer), embed=6, hidden=8), seed=seed)
    sections = {
        "model": dataclasses.asdict(model.config),
        "tokenizer": {"level": tokenizer.level},
        "train": dataclasses.asdict(TrainConfig()),
        "info": {"seed": seed},
        "data": {},
    }
    return lambda directory: files.write_checkpoint(
        directory, lm_checkpoint.KIND, sections, model.params, {"tokens": tokenizer}, extra
    )


def tagger() -> Callable[[Path], None]:
    """A save of a tagger: two vocabularies (vocab.json, vocab-chars.json), no extras."""
    ckpt = elman.load(FIXTURES / "tagger")
    return lambda directory: tag_checkpoint.save(directory, ckpt)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every entry of ``directory`` by name (hidden ones too), with its bytes."""
    return {
        path.name: path.read_bytes() if path.is_file() else b"<directory>"
        for path in sorted(directory.iterdir())
    }


def view(directory: Path) -> tuple | None:
    """What a reader gets from the checkpoint in ``directory`` (None: there is none): its
    config, vocabularies, the digest of its tensors and its further files, and the digest
    of the weights of the model ``elman.load`` builds from it."""
    if not (directory / files.CONFIG_FILE).exists():
        return None
    config = files.read_config(directory)
    names = tuple(config.get("vocabularies", {"tokens": files.VOCAB_FILE}))
    read = files.read_checkpoint(directory, files.kind_of(config), (), names)
    model = elman.load(directory).model
    return (
        json.dumps(read.config, sort_keys=True),
        {name: tokenizer.to_json() for name, tokenizer in read.vocabularies.items()},
        files.tensor_digest(read.tensors),
        read.files,
        files.tensor_digest(model.params),
    )


def test_extra_files_round_trip_and_every_file_is_recorded_with_its_sha256(tmp_path):
    extra = {"tokenizer.model": bytes(range(256)) * 3, "merges.txt": b"a b\n"}
    language_model(1, extra)(tmp_path)
    assert set(os.listdir(tmp_path)) == {
        "config.json", "vocab.json", "model.safetensors", "tokenizer.model", "merges.txt"
    }  # fmt: skip
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert config["format_version"] == files.FORMAT_VERSION == 3
    assert config["files"] == {
        name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        for name in ("model.safetensors", "vocab.json", "tokenizer.model", "merges.txt")
    }
    read = files.read_checkpoint(tmp_path, lm_checkpoint.KIND, (), ("tokens",))
    assert read.files == extra
    assert read.vocabularies["tokens"] == CharTokenizer.fit(TEXT + "x")
    assert elman.load(tmp_path).kind == lm_checkpoint.KIND


def test_an_extra_file_changed_after_saving_is_refused(tmp_path):
    language_model(1, {"tokenizer.model": b"\x00\x01model"})(tmp_path)
    (tmp_path / "tokenizer.model").write_bytes(b"\x00\x01mode1")
    with pytest.raises(ElmanError, match=r"tokenizer.model is damaged: its content does not"):
        elman.load(tmp_path)
    (tmp_path / "tokenizer.model").unlink()
    with pytest.raises(ElmanError, match=r"tokenizer.model is missing; the checkpoint is inco"):
        elman.load(tmp_path)


@pytest.mark.parametrize(
    "name", [".hidden", "sub/file", "", "config.json", "vocab.json", "model.safetensors"]
)
def test_an_extra_file_must_have_a_name_of_its_own(tmp_path, name):
    with pytest.raises(ValueError, match="cannot name a further file"):
        language_model(1, {name: b"x"})(tmp_path)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_a_save_replaces_the_checkpoint_whole_and_touches_nothing_else(tmp_path):
    """An old checkpoint with a further file, replaced by a tagger's (another vocabulary,
    no further file) and back: the files of the old one that the new one lacks go, the
    run's other files and a user's stay byte for byte, nothing hidden is left."""
    others = {"metrics.jsonl": b'{"event": "epoch"}\n', "resume.safetensors": b"state",
              "train.txt": b"the user's text\n"}  # fmt: skip
    for name, data in others.items():
        (tmp_path / name).write_bytes(data)
    saves = [language_model(1, {"tokenizer.model": b"sp"}), tagger(), language_model(2)]
    expected = [
        {"config.json", "vocab.json", "model.safetensors", "tokenizer.model"},
        {"config.json", "vocab.json", "vocab-chars.json", "model.safetensors"},
        {"config.json", "vocab.json", "model.safetensors"},
    ]
    for save, names in zip(saves, expected, strict=True):
        save(tmp_path)
        assert set(os.listdir(tmp_path)) == names | set(others)
        assert all((tmp_path / name).read_bytes() == data for name, data in others.items())
        reference = tmp_path.parent / f"reference-{len(names)}"
        save(reference)
        assert view(tmp_path) == view(reference)


def format_2_tagger(directory: Path) -> None:
    """A tagger's checkpoint as elman wrote it before the file hashes (format 2)."""
    tagger()(directory)
    path = directory / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    del config["files"]
    path.write_text(json.dumps({**config, "format_version": 2}), encoding="utf-8")


@pytest.mark.parametrize("old", ["lm-char", "tagger", "format-2 tagger"])
def test_a_checkpoint_of_an_older_format_is_read_and_replaced_whole(tmp_path, old):
    """Format 1 and 2 checkpoints (no file hashes) load as they were, and a save over
    one replaces it like any other: its files the new one lacks (a format 2 tagger's
    vocab-chars.json) go."""
    run = tmp_path / "run"
    if old == "format-2 tagger":
        format_2_tagger(run)
    else:
        shutil.copytree(FIXTURES / old, run)
    assert files.read_config(run)["format_version"] in (1, 2)
    assert view(run) is not None
    save = language_model(1, {"tokenizer.model": b"sp"})
    save(run)
    assert set(os.listdir(run)) == {
        "config.json", "vocab.json", "model.safetensors", "tokenizer.model"
    }  # fmt: skip
    save(tmp_path / "reference")
    assert view(run) == view(tmp_path / "reference")


def test_a_save_committed_but_not_settled_reads_as_the_new_checkpoint(tmp_path):
    """Between a save's commit and its last rename the new files wait in .staged: a
    reader takes them from there (the files under their names are the old ones), and the
    next save settles them first."""
    old, new = tmp_path / "old", tmp_path / "new"
    language_model(1, {"tokenizer.model": b"one"})(old)
    language_model(2, {"tokenizer.model": b"two"})(new)
    run = tmp_path / "run"
    shutil.copytree(old, run)
    (run / ".staged").mkdir()
    for name in ("model.safetensors", "vocab.json", "tokenizer.model"):
        shutil.copy(new / name, run / ".staged" / name)
    shutil.copy(new / "config.json", run / "config.json")  # the commit
    assert (run / "model.safetensors").read_bytes() == (old / "model.safetensors").read_bytes()
    assert view(run) == view(new)
    files._settle(run)
    assert snapshot(run) == snapshot(new)


def test_staged_files_of_a_save_never_committed_are_ignored_and_removed(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    language_model(1)(old)
    language_model(2, {"tokenizer.model": b"two"})(new)
    run = tmp_path / "run"
    shutil.copytree(old, run)
    shutil.copytree(new, run / ".staged")  # every file staged, config.json included
    (run / ".staged" / ".obsolete").mkdir()
    (run / ".staged" / ".obsolete" / "vocab.json").touch()  # as if the new one lacked it
    assert view(run) == view(old)
    files._settle(run)
    assert snapshot(run) == snapshot(old)


def loaded(directory: Path) -> tuple:
    """What ``elman.load`` gives: the kind, the weights' digest, the record, the tokens."""
    ckpt = elman.load(directory)
    return ckpt.kind, files.tensor_digest(ckpt.model.params), ckpt.info, ckpt.tokenizer.tokens


def test_a_reader_gets_a_whole_checkpoint_while_another_process_saves(tmp_path):
    """A child process saves two checkpoints in turn, as fast as it can; every load in
    the meantime is one of the two, whole (a file read as a save replaced it sends the
    reader back to config.json), and both are seen."""
    saves = [language_model(1, {"tokenizer.model": b"one"}), language_model(2)]
    expected = []
    for i, save in enumerate(saves):
        save(tmp_path / f"reference-{i}")
        expected.append(loaded(tmp_path / f"reference-{i}"))
    run = tmp_path / "run"
    saves[0](run)
    pid = os.fork()
    if pid == 0:  # the child: save, save, ... until killed; never back into pytest
        try:
            for i in range(10**9):
                saves[i % 2](run)
        finally:
            os._exit(1)
    seen = []
    try:
        deadline = time.monotonic() + 60
        while len(seen) < 60 or len(set(seen)) < 2 and time.monotonic() < deadline:
            seen.append(expected.index(loaded(run)))  # ValueError: neither of the two
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert set(seen) == {0, 1}, "the saves did not interleave with the loads"


def test_a_failed_commit_leaves_the_old_checkpoint_and_nothing_else(tmp_path, monkeypatch):
    language_model(1)(tmp_path / "old")
    run = tmp_path / "run"
    language_model(1)(run)
    real_replace = os.replace

    def disk_error(source, target):
        if Path(target).name == "config.json":
            raise OSError(5, "Input/output error")
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", disk_error)
    with pytest.raises(ElmanError, match=r"Input/output error; check the path, its perm"):
        language_model(2, {"tokenizer.model": b"two"})(run)
    assert snapshot(run) == snapshot(tmp_path / "old")


def test_a_checkpoint_replaced_again_and_again_while_read_is_refused_in_a_sentence(
    tmp_path, monkeypatch
):
    """If every read finds the checkpoint replaced (a file no longer the one config.json
    recorded, and config.json itself changed since), the reader gives up after
    READ_ATTEMPTS with a sentence; one attempt more is not made."""
    language_model(1)(tmp_path)
    reads = []
    real_read_config = files.read_config

    def another_save_each_time(directory):
        config = real_read_config(directory)
        reads.append(1)
        config = {**config, "info": {"read": len(reads)}}  # as if saved again meanwhile
        config["files"] = {**config["files"], "vocab.json": "0" * 64}
        return config

    monkeypatch.setattr(files, "read_config", another_save_each_time)
    with pytest.raises(ElmanError, match="was replaced by a newer checkpoint 5 times while"):
        files.read_checkpoint(tmp_path, lm_checkpoint.KIND, (), ("tokens",))
    assert len(reads) == 2 * files.READ_ATTEMPTS  # each attempt, and its check after
    monkeypatch.setattr(files, "read_config", real_read_config)
    assert view(tmp_path) is not None


def test_saving_the_same_checkpoint_twice_writes_the_same_bytes(tmp_path):
    """Resuming a killed run writes the files an unbroken run writes: the save adds
    nothing that depends on time or on what was there before."""
    save = language_model(3, {"tokenizer.model": b"sp"})
    save(tmp_path / "a")
    save(tmp_path / "b")
    save(tmp_path / "b")
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
