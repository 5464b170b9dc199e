"""Recipes from the command line: settings taken from the recipe, flags overriding
them, --data as a directory or as one file split 90/10, and the final report line.
The recipes' real runs (PTB, Tiny Shakespeare) are opt-in: tests/test_targets.py."""

import dataclasses
import json

import pytest

from elman import registry
from elman.errors import ElmanError
from elman.lm.kind import KIND as LANGUAGE_MODEL
from elman.lm.kind import read_data
from elman.lm.ngram import CharNgram
from elman.runs import find_recipe, recipe_line
from elman.translate.kind import KIND as TRANSLATOR
from tests.cli.test_lm import FOX, elman, ok, write

RECIPES = {**LANGUAGE_MODEL.recipes, **TRANSLATOR.recipes}


def test_every_recipe_is_valid_settings():
    """Every setting of a recipe is a field of one of its kind's settings, and each
    setting's config takes its share (raising on a bad value)."""
    for name in registry.registrations():
        kind = registry.kind(name)
        for recipe in kind.recipes.values():
            configs = list(kind.sections.values())
            fields = [{f.name for f in dataclasses.fields(cls)} for cls in configs]
            assert set(recipe.settings) <= set().union(*fields), recipe.name
            for cls, names in zip(configs, fields, strict=True):
                cls(**{k: v for k, v in recipe.settings.items() if k in names})
            if kind is TRANSLATOR or recipe.example:
                assert recipe.example.startswith(f"elman {kind.command} --recipe {recipe.name} ")


def test_a_recipe_belongs_to_one_command():
    assert find_recipe(TRANSLATOR, "addition").name == "addition"
    with pytest.raises(ElmanError, match="the recipe addition is for elman translate train"):
        find_recipe(LANGUAGE_MODEL, "addition")
    with pytest.raises(ElmanError, match="choose one of addition, dates, multi30k"):
        find_recipe(TRANSLATOR, "nope")
    result = elman("train", "--recipe", "dates")
    assert result.returncode == 2 and "elman translate train --recipe dates" in result.stderr


def test_recipes_lists_every_recipe_with_its_settings():
    out = ok(elman("recipes"))
    for name, recipe in RECIPES.items():
        assert f"{name}: {recipe.summary}" in out
        assert recipe.published in out
    assert "--decay-after 5" in out  # ptb-lstm-small's schedule
    assert "--reverse-source" in out and RECIPES["multi30k"].example in out


def test_a_recipe_run_takes_its_settings_and_flags_override_them(tmp_path):
    data = tmp_path / "ptb"
    data.mkdir()
    for name in ("train", "valid", "test"):
        write(data, f"{name}.txt", FOX * (8 if name == "train" else 1))
    out = tmp_path / "run"
    flags = ["--embed", "8", "--hidden", "8", "--batch", "2", "--bptt", "5", "--epochs", "2"]
    stdout = ok(elman("train", "--recipe", "ptb-lstm-small", "--data", data, *flags, "--out", out))
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["cell"] == "lstm" and config["model"]["layers"] == 2  # the recipe's
    assert config["model"]["hidden"] == 8 and config["train"]["epochs"] == 2  # the flags'
    assert config["train"]["decay_after"] == 5 and config["train"]["lr"] == 20.0
    assert config["data"]["recipe"] == "ptb-lstm-small"
    assert config["data"]["inputs"]["data"]["path"] == str(data.resolve())
    last = stdout.strip().splitlines()[-1]
    assert last.startswith("recipe ptb-lstm-small: test perplexity ")
    assert "(2 epochs); published: test perplexity 114.5" in last
    test = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()][-1]
    assert f"test perplexity {test['perplexity']:.2f}" in last


def test_data_file_is_split_90_10_and_the_run_resumes(tmp_path):
    text = "".join(f"line {i} of the fox\n" for i in range(200))
    corpus = write(tmp_path, "corpus.txt", text)
    read = read_data(corpus)
    assert read.record["inputs"]["data"]["path"] == str(corpus.resolve())
    assert read.record["split"] == 0.9 and read.parts["test"] is None
    out = tmp_path / "run"
    tiny = ["--embed", "8", "--hidden", "8", "--batch", "2", "--bptt", "8"]
    args = ["train", "--data", corpus, *tiny, "--max-steps", "3", "--out", out]
    stdout = ok(elman(*args))
    assert "test perplexity" not in stdout  # a split file has no test part
    first = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    valid_tokens = next(r["valid_tokens"] for r in first if r["event"] == "epoch")
    # the validation part is the last 10%, scored from its second character
    cut = text.index("\n", int(0.9 * len(text)) - 1) + 1
    assert valid_tokens == len(text) - cut - 1
    ok(elman("train", "--resume", out, "--max-steps", "6"))
    steps = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines())]
    assert max(r["step"] for r in steps if "step" in r) == 6


def test_the_report_line_counts_an_epoch_cut_short_as_part_of_one():
    history = [
        {"epoch": 1, "seconds": 60.0, "valid_loss": 5.0},
        {"epoch": 2, "seconds": 120.0, "valid_loss": 4.5, "partial": True},
    ]
    line = recipe_line(RECIPES["ptb-lstm-medium"], history, LANGUAGE_MODEL.headline(None, history))
    assert "after 2.0 minutes of training (1 epoch and part of epoch 2)" in line
    assert "validation loss 4.5000" in line


def test_nsmc_lm_scores_a_character_ngram_model_beside_it(tmp_path):
    """The nsmc-lm recipe ends with the character 4-gram count model's figure on the same
    test text, computed by elman.lm.ngram, in its own line and in the recipe's line."""
    reviews = [
        "영화 정말 재밌어요 ㅋㅋ",
        "별로였다 시간 아까움",
        "배우 연기 최고",
        "다시 보고 싶다",
    ]
    train = write(tmp_path, "train.txt", "".join(f"{r}\n" for r in reviews * 6))
    valid = write(tmp_path, "valid.txt", "재밌어요 최고\n")
    test = write(tmp_path, "test.txt", "연기 정말 별로\n시간 아까움 ㅋㅋ\n")
    out = ok(elman("train", "--recipe", "nsmc-lm", "--train", train, "--valid", valid,
                   "--test", test, "--level", "char", "--embed", 8, "--hidden", 8,
                   "--cutoffs", 5, "--batch", 2, "--bptt", 8, "--max-steps", 2,
                   "--out", tmp_path / "run"))  # fmt: skip
    expected = CharNgram(train.read_text(), 4).bits_per_char(test.read_text())
    assert f"count model on the same test text: {expected:.4f} bits per character" in out
    assert f"(character n-gram count model: {expected:.4f})" in out
