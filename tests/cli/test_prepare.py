"""``elman prepare``, training and evaluating from a prepared corpus or the cache, and
fine-tuning (``--init``, ``--grow-vocab``), end to end in subprocesses: the same figures
as the text in memory, and every refusal one sentence with exit code 2, nothing written."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy

from elman.lm import checkpoint
from tests.cli.test_lm import FOX, KOREAN, TINY, elman, ok, write

TEXT = "".join(f"line {i}: {FOX.splitlines()[i % 3]} {KOREAN.splitlines()[i % 3]}\n"
               for i in range(60))  # fmt: skip
VALID = "the lazy fox runs 안녕하세요\nthe dog sleeps 오늘은\n"
RUN = [*TINY, "--threads", "1", "--epochs", "2", "--seed", "3"]


def refused(result: subprocess.CompletedProcess, *words: str) -> str:
    """Exit code 2, one line on stderr saying ``words``, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("elman: error: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def losses(run) -> list[tuple]:
    """Each logged figure of a run, but its times and speeds."""
    drop = ("seconds", "tokens_per_s")
    return [
        tuple((k, v) for k, v in json.loads(line).items() if k not in drop)
        for line in (run / "metrics.jsonl").read_text().splitlines()
    ]


def weights(run) -> dict[str, bytes]:
    tensors = safetensors.numpy.load_file(run / "model.safetensors")
    return {name: value.tobytes() for name, value in tensors.items()}


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    d = tmp_path_factory.mktemp("prepare")
    write(d, "train.txt", TEXT)
    write(d, "valid.txt", VALID)
    out = ok(elman("prepare", "--train", d / "train.txt", "--valid", d / "valid.txt",
                   "--out", d / "corpus"))  # fmt: skip
    assert "ids as uint16" in out
    return d


def test_a_prepared_corpus_trains_to_the_losses_of_the_text_in_memory(texts, tmp_path):
    ok(elman("train", "--train", texts / "train.txt", "--valid", texts / "valid.txt",
             "--out", tmp_path / "memory", *RUN))  # fmt: skip
    ok(elman("train", "--train", texts / "corpus", "--valid", texts / "corpus" / "valid.bin",
             "--out", tmp_path / "prepared", *RUN))  # fmt: skip
    ok(elman("train", "--data", texts / "corpus", "--out", tmp_path / "data", *RUN))
    expected = losses(tmp_path / "memory")
    assert any(name == "valid_bits_per_char" for record in expected for name, _ in record)
    assert losses(tmp_path / "prepared") == expected
    assert losses(tmp_path / "data") == expected
    assert weights(tmp_path / "prepared") == weights(tmp_path / "memory")
    data = json.loads((tmp_path / "prepared" / "config.json").read_text())["data"]
    corpus = json.loads((texts / "corpus" / "corpus.json").read_text())
    assert data["inputs"]["train"]["sha256"] == corpus["parts"]["train"]["sha256"]


def test_eval_of_a_prepared_part_gives_the_figures_of_its_text(texts, tmp_path):
    ok(elman("train", "--train", texts / "train.txt", "--out", tmp_path / "m", *RUN))
    by_text = json.loads(ok(elman("eval", "--model", tmp_path / "m", "--data",
                                  texts / "valid.txt", "--json")))  # fmt: skip
    by_part = json.loads(ok(elman("eval", "--model", tmp_path / "m", "--data",
                                  texts / "corpus" / "valid.bin", "--json")))  # fmt: skip
    assert by_part == by_text
    assert by_part["chars"] == len(VALID) - 1  # the first character is read, not predicted
    by_corpus = json.loads(ok(elman("eval", "--model", tmp_path / "m", "--data",
                                    texts / "corpus", "--json")))  # fmt: skip
    assert by_corpus == by_text  # a corpus without a test part: its validation part


def test_a_changed_or_truncated_prepared_file_is_refused_and_nothing_is_written(texts, tmp_path):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(texts / "corpus", corpus)
    data = bytearray((corpus / "train.bin").read_bytes())
    data[7] ^= 1
    (corpus / "train.bin").write_bytes(bytes(data))
    refused(elman("train", "--train", corpus, "--out", tmp_path / "run", *RUN),
            "sha256 differs", "prepare the corpus again")  # fmt: skip
    (corpus / "train.bin").write_bytes(bytes(data[:-1]))
    refused(elman("train", "--train", corpus, "--out", tmp_path / "run", *RUN), "truncated")
    assert not (tmp_path / "run").exists()


def test_resume_refuses_a_corpus_prepared_again_from_another_text(texts, tmp_path):
    import shutil

    corpus = tmp_path / "corpus"
    shutil.copytree(texts / "corpus", corpus)
    ok(elman("train", "--train", corpus, "--out", tmp_path / "run", *TINY, "--max-steps", "2"))
    write(tmp_path, "other.txt", TEXT.replace("fox", "cat"))
    ok(elman("prepare", "--train", tmp_path / "other.txt", "--vocab", corpus, "--out", corpus,
             "--overwrite"))  # fmt: skip
    before = (tmp_path / "run" / "model.safetensors").read_bytes()
    refused(elman("train", "--resume", tmp_path / "run", "--max-steps", "4"), "changed")
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == before


def test_a_large_text_is_prepared_once_into_the_cache_and_trains_as_in_memory(texts, tmp_path):
    env = {"ELMAN_PREPARE_ABOVE": "0", "ELMAN_CACHE": str(tmp_path / "cache")}
    args = ("train", "--train", texts / "train.txt", "--valid", texts / "valid.txt", *RUN)
    first = cached_run(env, *args, "--out", tmp_path / "a")
    assert f"preparing {texts / 'train.txt'}" in first and str(tmp_path / "cache") in first
    second = cached_run(env, *args, "--out", tmp_path / "b")
    assert "from its prepared copy" in second
    ok(elman(*args, "--out", tmp_path / "memory"))
    assert losses(tmp_path / "a") == losses(tmp_path / "b") == losses(tmp_path / "memory")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        p.name for p in (tmp_path / "memory").iterdir()
    )  # the prepared copy is in the cache, not in the run
    bad = cached_run({**env, "ELMAN_PREPARE_ABOVE": "lots"}, *args, "--out", tmp_path / "c",
                     code=2)  # fmt: skip
    assert "ELMAN_PREPARE_ABOVE must be a size in megabytes" in bad


def cached_run(env: dict[str, str], *args, code: int = 0) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "elman", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONUTF8": "1", **env},
        timeout=120,
    )
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout + result.stderr


# Fine-tuning ------------------------------------------------------------------------------

NEW = "the fox jumps over the zebra: ÿ and ŵ are new here\n" * 6


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("base")
    write(d, "train.txt", FOX * 6)
    write(d, "new.txt", NEW)
    ok(elman("train", "--train", d / "train.txt", "--out", d / "char", *TINY, "--max-steps", "3"))
    ok(elman("train", "--train", d / "train.txt", "--out", d / "word", "--level", "word",
             *TINY, "--max-steps", "3"))  # fmt: skip
    return d


def test_init_without_grow_vocab_counts_the_new_tokens_as_unk(base, tmp_path):
    out = ok(elman("train", "--init", base / "char", "--train", base / "new.txt",
                   "--out", tmp_path / "ft", "--max-steps", "2"))  # fmt: skip
    unknown = sum(ch not in set(FOX * 6) for ch in NEW)
    assert f"training text: {unknown:,} tokens are not in the model vocabulary" in out
    assert "--grow-vocab adds them" in out
    tuned, old = checkpoint.load(tmp_path / "ft"), checkpoint.load(base / "char")
    assert tuned.tokenizer == old.tokenizer
    assert tuned.model.config.hidden == old.model.config.hidden == 16


@pytest.mark.parametrize("level", ["char", "word"])
def test_grow_vocab_adds_the_new_tokens_after_the_old(base, tmp_path, level):
    out = ok(elman("train", "--init", base / level, "--grow-vocab", "--train",
                   base / "new.txt", "--out", tmp_path / "ft", "--max-steps", "2"))  # fmt: skip
    old, tuned = checkpoint.load(base / level), checkpoint.load(tmp_path / "ft")
    V = len(old.tokenizer)
    assert tuned.tokenizer.tokens[:V] == old.tokenizer.tokens
    new = "ÿ" if level == "char" else "zebra:"
    assert new in tuned.tokenizer.tokens[V:]
    assert f"vocabulary grew from {V:,} to {len(tuned.tokenizer):,}" in out
    assert tuned.model.config.grown_from == str(V)
    # prepared with the model's vocabulary grown, the same run
    ok(elman("prepare", "--vocab", base / level, "--grow-vocab", "--train", base / "new.txt",
             "--out", tmp_path / "corpus"))  # fmt: skip
    ok(elman("train", "--init", base / level, "--grow-vocab", "--train", tmp_path / "corpus",
             "--out", tmp_path / "ft2", "--max-steps", "2"))  # fmt: skip
    assert losses(tmp_path / "ft2") == losses(tmp_path / "ft")


def test_a_grown_vocabulary_past_uint16_is_written_as_uint32(base, tmp_path):
    write(tmp_path, "many.txt", " ".join(f"w{i}" for i in range(66_000)) + "\n")
    out = ok(elman("prepare", "--vocab", base / "word", "--grow-vocab", "--train",
                   tmp_path / "many.txt", "--out", tmp_path / "c"))  # fmt: skip
    assert "ids as uint32" in out
    assert (tmp_path / "c" / "train.bin").stat().st_size == 4 * 66_001
    ids = np.fromfile(tmp_path / "c" / "train.bin", dtype="<u4")
    assert ids.max() > 1 << 16


def test_fine_tuning_refusals_are_one_sentence_and_write_nothing(base, tmp_path):
    out = tmp_path / "ft"
    train = ("--train", base / "new.txt", "--out", out, "--max-steps", "2")
    refused(elman("train", "--grow-vocab", *train), "give --init")
    ok(elman("train", "--train", base / "train.txt", "--out", tmp_path / "adaptive",
             "--level", "word", "--softmax", "adaptive", "--cutoffs", "8", *TINY,
             "--max-steps", "1"))  # fmt: skip
    refused(elman("train", "--init", tmp_path / "adaptive", "--grow-vocab", *train),
            "adaptive softmax")  # fmt: skip
    refused(elman("train", "--init", base / "char", "--hidden", "32", *train),
            "keeps its shape")  # fmt: skip
    refused(elman("classify", "train", "--grow-vocab", "--data", base / "new.txt"),
            "leave --grow-vocab out")  # fmt: skip
    refused(elman("translate", "train", "--init", base / "char"), "leave --init out")
    ok(elman("prepare", "--train", base / "new.txt", "--out", tmp_path / "other"))
    refused(elman("train", "--init", base / "char", "--train", tmp_path / "other",
                  "--out", out, "--max-steps", "2"), "another vocabulary")  # fmt: skip
    refused(elman("eval", "--model", base / "char", "--data", tmp_path / "other"),
            "another vocabulary")  # fmt: skip
    assert not out.exists()


def test_subword_models_do_not_grow(base, tmp_path):
    pytest.importorskip("sentencepiece")
    write(tmp_path, "long.txt", (FOX + KOREAN) * 40)
    ok(elman("train", "--train", tmp_path / "long.txt", "--level", "subword", "--vocab-size",
             "312", "--out", tmp_path / "sub", *TINY, "--max-steps", "1"))  # fmt: skip
    refused(elman("train", "--init", tmp_path / "sub", "--grow-vocab", "--train",
                  base / "new.txt", "--out", tmp_path / "ft", "--max-steps", "1"),
            "sentencepiece")  # fmt: skip
    refused(elman("prepare", "--vocab", tmp_path / "sub", "--grow-vocab", "--train",
                  base / "new.txt", "--out", tmp_path / "c"), "sentencepiece")  # fmt: skip
    assert not (tmp_path / "ft").exists() and not (tmp_path / "c").exists()
