"""--level subword through the command line: every kind that reads text trains on
subword pieces, the checkpoint keeps the sentencepiece model beside the vocabulary (its
sha256 in config.json, checked on load), bits per character agree with a direct sum of
the per-token log-probabilities for characters, words and pieces alike, and each bad
input is one sentence, exit 2, with nothing written."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from elman import kinds
from elman.lm.generate import line_log_probs
from elman.nn import log_softmax
from tests.cli.test_lm import TINY, elman, ok, write
from tests.cli.test_robustness import refused
from tests.data.test_tokenizers_subword import WORDS, corpus

REVIEWS = corpus(200)  # 45 characters: 303 to 345 pieces


def labelled(text: str) -> str:
    """label<TAB>text lines: "pos" for lines with 최고 or great, the others "neg"."""
    lines = text.splitlines()
    return "".join(
        f"{'pos' if '최고' in line or 'great' in line else 'neg'}\t{line}\n" for line in lines
    )


def mirrored_pairs(n: int = 60) -> str:
    """source<TAB>target: some words, and the same words backwards (one alphabet, so
    that one --vocab-size fits both sides)."""
    rng = np.random.default_rng(0)
    pairs = []
    for _ in range(n):
        words = list(rng.choice(WORDS[:14], size=rng.integers(2, 5)))
        pairs.append(f"{' '.join(words)}\t{' '.join(words[::-1])}\n")
    return "".join(pairs)


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    """A subword language model of REVIEWS, and its text."""
    d = tmp_path_factory.mktemp("subword")
    text = write(d, "reviews.txt", REVIEWS)
    out = d / "lm"
    stdout = ok(elman("train", "--train", text, "--valid", text, "--test", text,
                      "--level", "subword", "--vocab-size", "320", "--max-steps", "30",
                      "--out", out, *TINY))  # fmt: skip
    assert "vocabulary: 320 subword tokens" in stdout
    assert "bits per character" in stdout.split("test perplexity")[1].splitlines()[0]
    return out, text


def test_the_sentencepiece_model_is_stored_beside_the_vocabulary(lm):
    out, _ = lm
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    model = (out / "vocab.model").read_bytes()
    assert config["files"]["vocab.model"] == hashlib.sha256(model).hexdigest()
    assert config["tokenizer"]["level"] == "subword" and config["tokenizer"]["vocab_size"] == 320
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    assert vocab["level"] == "subword" and vocab["algorithm"] == "unigram"
    assert len(vocab["tokens"]) == 320
    ckpt = kinds.load(out)
    assert ckpt.tokenizer.files() == {"model": model}


def test_metrics_and_the_epoch_line_give_bits_per_character(lm):
    out, _ = lm
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epoch = next(r for r in records if r.get("event") == "epoch")
    test = next(r for r in records if r.get("event") == "test")
    for record, prefix in ((epoch, "valid_"), (test, "")):
        for name in ("bits_per_char", "bits_per_byte", "chars", "bytes", "unknown"):
            assert prefix + name in record
        assert record[prefix + "unknown"] == 0
    assert test["chars"] < len(REVIEWS) and test["bytes"] > test["chars"]  # Korean: 3 bytes


def test_generate_score_and_eval(lm):
    out, text = lm
    generated = ok(elman("generate", "--model", out, "--prompt", "영화", "--length", "30"))
    assert generated.startswith("영화")  # (an untrained model's random bytes may be U+FFFD)
    scored = json.loads(ok(elman("score", "--model", out, "--json", stdin="영화 정말 😀\n")))
    assert scored["chars"] == len("영화 정말 😀\n") and scored["unknown"] == 0
    assert scored["bits_per_char"] == pytest.approx(-scored["log_prob"] / math.log(2) / 8)
    report = ok(elman("eval", "--model", out, "--data", text))
    assert "bits per char" in report and "note:" not in report  # nothing is <unk>


def text_of_three_kinds(tmp_path):
    """One text, single-spaced, that every tokenizer writes back as it is."""
    return write(tmp_path, "text.txt", REVIEWS)


@pytest.mark.parametrize(
    ("level", "state"),
    [("char", "carry"), ("word", "carry"), ("subword", "carry"), ("subword", "reset")],
)
def test_bits_per_char_against_a_direct_sum(tmp_path, level, state):
    """elman eval --json: the log-likelihood summed token by token from the model's own
    logits, in bits, over the characters the scored tokens write back: in one stream
    every token but the first, with the state reset at each line end every token (each
    line read from a line start)."""
    text = text_of_three_kinds(tmp_path)
    out = tmp_path / level
    sizes = ["--vocab-size", "320"] if level == "subword" else []
    ok(elman("train", "--train", text, "--level", level, *sizes, "--state", state,
             "--max-steps", "15", "--out", out, *TINY))  # fmt: skip
    figures = json.loads(ok(elman("eval", "--model", out, "--data", text, "--json", "--batch", 1)))

    ckpt = kinds.load(out)
    tokenizer, model = ckpt.tokenizer, ckpt.model
    ids = tokenizer.encode(REVIEWS)
    written = tokenizer.decode(ids)
    assert written == REVIEWS  # so the characters scored are the text's
    if state == "carry":
        logits, _ = model.logits(ids[None, :-1])
        logp = log_softmax(logits.astype(np.float64))[0]
        nats = -logp[np.arange(len(ids) - 1), ids[1:]].sum()
        chars = len(written) - len(tokenizer.decode(ids[:1]))
    else:
        nats = -sum(line_log_probs(model, tokenizer, line).sum() for line in REVIEWS.splitlines())
        chars = len(written)
    assert figures["chars"] == chars
    assert figures["bytes"] == len(written.encode("utf-8")) - (
        len(tokenizer.decode(ids[:1]).encode("utf-8")) if state == "carry" else 0
    )
    assert figures["bits_per_char"] == pytest.approx(nats / math.log(2) / chars, rel=1e-5)
    assert figures["unknown"] == 0


def test_a_label_conditioned_model_and_a_classifier_from_it(tmp_path):
    data = write(tmp_path, "reviews.tsv", labelled(REVIEWS))
    lm_out, clf_out = tmp_path / "lm", tmp_path / "clf"
    ok(elman("train", "--condition", "label", "--data", data, "--level", "subword",
             "--vocab-size", "310", "--max-steps", "10", "--out", lm_out, *TINY))  # fmt: skip
    assert ok(elman("generate", "--model", lm_out, "--label", "pos", "--count", "2"))
    ok(elman("eval", "--model", lm_out, "--data", data, "--json"))
    plain = tmp_path / "plain"
    ok(elman("train", "--train", write(tmp_path, "r.txt", REVIEWS), "--level", "subword",
             "--vocab-size", "310", "--max-steps", "10", "--out", plain, *TINY))  # fmt: skip
    ok(elman("classify", "train", "--data", data, "--init", plain, "--epochs", "1",
             "--out", clf_out, "--batch", "8"))  # fmt: skip
    assert kinds.load(clf_out).tokenizer == kinds.load(plain).tokenizer


def test_a_classifier_and_a_translator_on_pieces(tmp_path):
    data = write(tmp_path, "reviews.tsv", labelled(REVIEWS))
    out = tmp_path / "clf"
    ok(elman("classify", "train", "--data", data, "--level", "subword", "--subword", "bpe",
             "--vocab-size", "310", "--epochs", "1", "--out", out, "--embed", "8",
             "--hidden", "8"))  # fmt: skip
    assert kinds.load(out).tokenizer.algorithm == "bpe"
    ok(elman("classify", "eval", "--model", out, "--data", data))
    assert len(ok(elman("classify", "predict", "--model", out, stdin="영화 최고\n")).split()) > 0

    pairs = write(tmp_path, "pairs.tsv", mirrored_pairs())
    out = tmp_path / "mt"
    ok(elman("translate", "train", "--data", pairs, "--level", "subword", "--vocab-size", "300",
             "--epochs", "1", "--out", out, "--embed", "8", "--hidden", "8", "--batch", "8",
             "--attention", "dot"))  # fmt: skip
    ckpt = kinds.load(out)
    assert ckpt.source.level == ckpt.target.level == "subword"
    assert (out / "vocab.model").is_file() and (out / "vocab-target.model").is_file()
    ok(elman("translate", "eval", "--model", out, "--data", pairs))
    ok(elman("translate", "predict", "--model", out, stdin="영화 정말\n"))


@pytest.mark.parametrize(
    ("command", "flags", "message"),
    [
        ("train", ["--level", "subword", "--vocab-size", "100"],
         "--vocab-size 100 is too small for the training text: its 45 most frequent "
         "characters need a piece each and, with <unk>, the line end and the 256 bytes, that "
         "makes 303; use --vocab-size 303 or more."),
        ("train", ["--level", "subword", "--vocab-size", "100000"],
         "--vocab-size 100,000 is more than the training text can give (at most 345 pieces); "
         "use --vocab-size 345 or less, or a longer text."),
        ("train", ["--subword", "bpe"],
         "--subword is a setting of --level subword, and this run reads char tokens; drop "
         "--subword or use --level subword."),
        ("train", ["--level", "word", "--vocab-size", "400"],
         "--vocab-size is a setting of --level subword"),
        ("train", ["--level", "subword", "--max-vocab", "400"],
         "--max-vocab is a setting of --level char and word, and this run reads subword "
         "tokens; drop --max-vocab or use --level char."),
        ("train", ["--level", "subword", "--min-count", "2"], "--min-count is a setting of"),
        ("train", ["--level", "subword", "--subword", "wordpiece"], "invalid choice: 'wordpiece'"),
        ("classify", ["--vocab-size", "400"], "--vocab-size is a setting of --level subword"),
        ("classify", ["--level", "subword", "--vocab-size", "100"], "use --vocab-size 303 or more"),
        ("translate", ["--level", "subword", "--max-vocab", "100"], "--max-vocab is a setting"),
    ],
)  # fmt: skip
def test_bad_subword_settings_are_one_sentence_and_write_nothing(tmp_path, command, flags, message):
    out = tmp_path / "out"
    if command == "train":
        args = ["train", "--train", write(tmp_path, "t.txt", REVIEWS)]
    elif command == "classify":
        args = ["classify", "train", "--data", write(tmp_path, "t.tsv", labelled(REVIEWS))]
    else:
        args = ["translate", "train", "--data", write(tmp_path, "p.tsv", mirrored_pairs())]
    refused(elman(*args, *flags, "--out", out, "--max-steps", "1", *TINY[:4]), message)
    assert not out.exists()


def test_a_damaged_sentencepiece_model_is_refused_by_its_hash(lm, tmp_path):
    out, text = lm
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in out.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    model = bytearray((copy / "vocab.model").read_bytes())
    model[len(model) // 2] ^= 1
    (copy / "vocab.model").write_bytes(bytes(model))
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    refused(
        elman("eval", "--model", copy, "--data", text),
        "vocab.model is damaged: its content does not match the hash recorded in config.json",
    )
    refused(elman("train", "--resume", copy), "vocab.model is damaged")
    (copy / "vocab.model").unlink()
    refused(elman("generate", "--model", copy), "vocab.model is missing")
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == {
        k: v for k, v in before.items() if k != "vocab.model"
    }
