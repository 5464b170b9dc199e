"""The training loop: memorising a tiny corpus, the metrics and best checkpoint it
writes, learning-rate decay, and the errors it raises instead of training."""

import dataclasses
import json
import sys
import types

import numpy as np
import pytest
import safetensors.numpy

from elman import blas
from elman.config import ModelConfig, TrainConfig
from elman.data import CharTokenizer
from elman.data.batching import make_batches
from elman.errors import ElmanError
from elman.lm import checkpoint
from elman.lm.config import LanguageModelConfig, LanguageModelTrainConfig
from elman.lm.evaluate import evaluate
from elman.lm.generate import generate
from elman.lm.kind import train
from elman.lm.model import LanguageModel
from tests.cli.test_resume import same_tensors
from tests.numeric import assert_close

FOX = "the quick brown fox jumps over the lazy dog\n"
KOREAN = "안녕하세요, 세계!\n한국어 문장입니다.\n오늘은 날씨가 좋습니다.\n"


def make_model(tokenizer, hidden=32, embed=16, seed=0) -> LanguageModel:
    return LanguageModel(
        ModelConfig(vocab_size=len(tokenizer), embed=embed, hidden=hidden), seed=seed
    )


def read_metrics(directory) -> list[dict]:
    """The records of metrics.jsonl but the ``save`` ones (the training state's time)."""
    lines = (directory / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["event"] != "save"]


def test_memorises_a_deterministic_corpus():
    """The fox sentence repeated is predictable from context: 300 Adam steps drive the
    training loss under 0.1 nats, and greedy decoding from 'the quick' writes the
    sentence on, line after line."""
    text = FOX * 20
    tok = CharTokenizer.fit(text)
    model = make_model(tok)
    config = LanguageModelTrainConfig(batch=4, bptt=32, max_steps=300, lr=0.01)
    history = train(model, tok, text, config=config, progress=False)
    assert history[-1]["step"] == 300
    assert history[0]["train_loss"] > 1.0
    assert history[-1]["train_loss"] < 0.1
    assert evaluate(model, tok, text, batch=1).loss < 0.1
    generated = generate(model, tok, "the quick", 2 * len(FOX), temperature=0)
    assert generated == (FOX * 3)[: len("the quick") + 2 * len(FOX)]


def test_korean_text_trains():
    """Hangul syllables are character tokens like any other: the loss on the training
    text falls by more than half in 150 steps."""
    text = KOREAN * 10
    tok = CharTokenizer.fit(text)
    assert "한" in tok and len(tok) == len(set(KOREAN)) + 1
    model = make_model(tok)
    before = evaluate(model, tok, text, batch=1).loss
    history = train(
        model,
        tok,
        text,
        config=LanguageModelTrainConfig(batch=4, bptt=16, max_steps=150),
        progress=False,
    )
    after = evaluate(model, tok, text, batch=1).loss
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert after < before / 2


def alternating(tmp_path, valid_text, name, epochs=4):
    """'abab...' for ``epochs`` epochs of 7 steps, validated on ``valid_text``."""
    text = "ab" * 200 + "\n"
    tok = CharTokenizer.fit(text)
    model = make_model(tok, hidden=16, embed=8)
    config = LanguageModelTrainConfig(
        batch=4, bptt=16, epochs=epochs, lr=0.01, lr_decay=4.0, log_every=5
    )
    history = train(model, tok, text, valid_text, config, out_dir=tmp_path / name, progress=False)
    return model, history


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_restart_every_starts_the_marked_streams_from_zero(cell):
    """Two layers, --restart-every 3 over two epochs: each chunk starts from a zero state
    in every layer exactly in the streams its batch marks (all of them at an epoch's
    start), and carries the state on in the others."""
    text = FOX * 8
    tok = CharTokenizer.fit(text)
    config = ModelConfig(vocab_size=len(tok), embed=8, hidden=16, cell=cell, layers=2)
    model = LanguageModel(config, seed=0)
    zero_rows = []
    original = model.forward

    def forward(inputs, targets, mask=None):
        rows = []
        for state in model.state:
            if state is None:
                rows.append([True] * len(inputs))
                continue
            parts = state if isinstance(state, tuple) else (state,)
            rows.append(np.all([~p.any(axis=1) for p in parts], axis=0).tolist())
        zero_rows.append(rows)
        return original(inputs, targets, mask)

    model.forward = forward
    train_config = LanguageModelTrainConfig(batch=4, bptt=5, epochs=2, lr=0.01, restart_every=3)
    train(model, tok, text, config=train_config, progress=False)
    batches = list(make_batches(tok.encode(text), "carry", tok.eos_id, 4, 5, 3))
    assert len(zero_rows) == 2 * len(batches)
    assert sum(b.restart is not None for b in batches) >= len(batches) - 2
    for rows, batch in zip(zero_rows, batches * 2, strict=True):
        if batch.reset:
            expected = [True] * 4
        elif batch.restart is None:
            expected = [False] * 4
        else:
            expected = batch.restart.tolist()
        assert rows == [expected, expected]


def test_out_dir_is_created(tmp_path):
    text = "ab" * 200 + "\n"
    tok = CharTokenizer.fit(text)
    config = LanguageModelTrainConfig(batch=4, bptt=16, epochs=1, log_every=2)
    train(
        make_model(tok, 16, 8), tok, text, config=config, out_dir=tmp_path / "new", progress=False
    )
    assert [r["event"] for r in read_metrics(tmp_path / "new")] == ["step"] * 3 + ["epoch"]
    checkpoint.load(tmp_path / "new")


def test_improving_validation_saves_every_epoch_and_keeps_the_lr(tmp_path):
    """Validated on text like its training text, the model improves every epoch: each
    epoch is saved, the lr stays, metrics.jsonl holds the step and epoch records in
    order, and the checkpoint holds the last epoch's weights."""
    model, history = alternating(tmp_path, "abababab\n", "improving")
    valid = [r["valid_ppl"] for r in history]
    assert valid == sorted(valid, reverse=True) and len(set(valid)) == 4  # strictly better
    assert [r["saved"] for r in history] == [True] * 4
    assert [r["lr"] for r in history] == [0.01] * 4

    records = read_metrics(tmp_path / "improving")
    # 7 steps an epoch, a step record every 5 steps, in the order they happened.
    assert [(r["event"][0], r["step"]) for r in records] == [
        ("s", 5), ("e", 7), ("s", 10), ("e", 14), ("s", 15), ("s", 20), ("e", 21), ("s", 25),
        ("e", 28),
    ]  # fmt: skip
    assert all(r["lr"] == 0.01 and r["grad_norm"] > 0 for r in records if r["event"] == "step")
    epochs = [r for r in records if r["event"] == "epoch"]
    assert epochs == history
    assert all(r["valid_tokens"] == 8 for r in epochs)

    ckpt = checkpoint.load(tmp_path / "improving")
    assert ckpt.info["epoch"] == 4 and ckpt.info["valid_ppl"] == valid[-1]
    assert np.array_equal(ckpt.model.flat_params, model.flat_params)


def test_worsening_validation_decays_the_lr_and_keeps_the_best_model(tmp_path):
    """Trained on 'abab', the model finds 'aaaa' less likely every epoch: only epoch 1 is
    saved, the lr is divided by 4 after each later epoch (the record gives the lr the
    epoch was trained with), and the model ends with the epoch-1 weights, which equal
    those of a separate 1-epoch run."""
    model, history = alternating(tmp_path, "aaaaaaaaaa\n", "worsening")
    valid = [r["valid_ppl"] for r in history]
    assert valid == sorted(valid) and len(set(valid)) == 4  # strictly worse
    assert [r["saved"] for r in history] == [True, False, False, False]
    assert [r["lr"] for r in history] == pytest.approx([0.01, 0.01, 0.0025, 0.000625])

    one_epoch, _ = alternating(tmp_path, "aaaaaaaaaa\n", "one-epoch", epochs=1)
    assert np.array_equal(model.flat_params, one_epoch.flat_params)
    ckpt = checkpoint.load(tmp_path / "worsening")
    assert ckpt.info["epoch"] == 1
    assert np.array_equal(ckpt.model.flat_params, one_epoch.flat_params)


def test_lr_decay_one_never_decays(tmp_path):
    text = "ab" * 200 + "\n"
    tok = CharTokenizer.fit(text)
    config = LanguageModelTrainConfig(batch=4, bptt=16, epochs=3, lr=0.01, lr_decay=1.0)
    history = train(make_model(tok, 16, 8), tok, text, "aaaaaaaaaa\n", config, progress=False)
    assert [r["saved"] for r in history] == [False] * 3  # no out_dir
    assert [r["lr"] for r in history] == [0.01] * 3


def test_decay_after_divides_the_rate_after_every_epoch_from_that_epoch_on():
    """Zaremba et al.'s schedule: epochs 1-2 at the full rate, then halved per epoch,
    whether or not validation improved."""
    text = "abcab" * 100 + "\n"
    tok = CharTokenizer.fit(text)
    config = LanguageModelTrainConfig(
        batch=4, bptt=16, epochs=5, optimizer="sgd", lr=0.5, lr_decay=2.0, decay_after=2
    )
    history = train(make_model(tok, 16, 8), tok, text, "abcab\n", config, progress=False)
    valid = [r["valid_ppl"] for r in history]
    assert valid == sorted(valid, reverse=True)  # it improved every epoch, and still:
    assert [r["lr"] for r in history] == [0.5, 0.5, 0.25, 0.125, 0.0625]


def test_max_steps_stops_mid_epoch():
    text = FOX * 5  # 220 tokens: 4 streams of 55, 4 chunks of 16 per epoch
    tok = CharTokenizer.fit(text)
    config = LanguageModelTrainConfig(batch=4, bptt=16, max_steps=6)
    history = train(make_model(tok, 16, 8), tok, text, config=config, progress=False)
    assert [(r["epoch"], r["step"]) for r in history] == [(1, 4), (2, 6)]


def test_nan_loss_raises_and_leaves_the_weights_untouched():
    """A NaN weight makes the first loss NaN: the error names step 1, and no update is
    applied (the weights are bit-equal to what they were, NaN included)."""
    text = FOX * 5
    tok = CharTokenizer.fit(text)
    model = make_model(tok, 16, 8)
    model.params["output.b"][3] = np.nan
    before = model.flat_params.copy()
    with pytest.raises(ElmanError, match=r"loss became nan at step 1, so the weights were not"):
        train(
            model,
            tok,
            text,
            config=LanguageModelTrainConfig(batch=2, bptt=8, max_steps=5),
            progress=False,
        )
    assert np.array_equal(model.flat_params, before, equal_nan=True)


def test_diverging_training_stops_at_the_step_where_the_loss_became_nan():
    """SGD at lr 1e30 without clipping: the loss of step 2 is NaN with some BLAS kernels
    and a finite 1e29 with others; either way the error names step 2, and the model
    holds the weights after step 1, equal to those of a run stopped after 1 step."""
    text = FOX * 5
    tok = CharTokenizer.fit(text)
    config = LanguageModelTrainConfig(
        batch=2, bptt=8, max_steps=50, optimizer="sgd", lr=1e30, clip=0
    )
    model = make_model(tok, 16, 8)
    with np.errstate(over="ignore", invalid="ignore"):
        with pytest.raises(ElmanError, match=r"at step 2.*lower --lr \(now 1e\+30\)"):
            train(model, tok, text, config=config, progress=False)
        reference = make_model(tok, 16, 8)
        config.max_steps = 1
        train(reference, tok, text, config=config, progress=False)
    assert np.all(np.isfinite(model.flat_params))
    assert np.array_equal(model.flat_params, reference.flat_params)


@pytest.mark.parametrize(("loss", "stops"), [(1e6, True), (31.0, True), (29.0, False)])
def test_a_finite_loss_far_above_a_uniform_guess_counts_as_diverged(monkeypatch, loss, stops):
    """The rule does not wait for an overflow: a loss above 3 x max(log V, 10 nats) (here
    30) at step 3 stops training there, before the update; one just below goes on."""
    text = FOX * 5
    tok = CharTokenizer.fit(text)
    model = make_model(tok, 16, 8)
    real_forward, calls = model.forward, []

    def forward(*args):
        calls.append(1)
        real = real_forward(*args)
        return loss if len(calls) == 3 else real

    monkeypatch.setattr(model, "forward", forward)
    config = LanguageModelTrainConfig(batch=2, bptt=8, max_steps=5)
    if stops:
        with pytest.raises(ElmanError, match=r"became .* at step 3, so the weights were not "):
            train(model, tok, text, config=config, progress=False)
    else:
        assert train(model, tok, text, config=config, progress=False)[-1]["step"] == 5


def test_a_config_that_never_stops_is_refused():
    tok = CharTokenizer.fit(FOX)
    with pytest.raises(ElmanError, match="training would never stop"):
        train(make_model(tok), tok, FOX * 5, config=TrainConfig(), progress=False)


@pytest.mark.parametrize(("text", "batch"), [("hello", 32), ("hello", 5), ("h", 1)])
def test_a_corpus_too_short_for_the_batch_is_refused(text, batch):
    """N tokens give N - 1 targets, too few for ``batch`` streams when N - 1 < batch."""
    tok = CharTokenizer.fit(text)
    with pytest.raises(ElmanError, match=f"has {len(text)} tokens, too few for --batch {batch}"):
        train(make_model(tok), tok, text, config=TrainConfig(batch=batch, epochs=1), progress=False)


def test_the_shortest_corpus_for_the_batch_trains():
    tok = CharTokenizer.fit("hello")
    config = TrainConfig(batch=4, epochs=1)
    history = train(make_model(tok), tok, "hello", config=config, progress=False)
    assert history[0]["step"] == 1


def test_a_one_token_validation_text_is_refused():
    tok = CharTokenizer.fit(FOX)
    with pytest.raises(ElmanError, match="validation text has fewer than two tokens"):
        train(make_model(tok), tok, FOX * 5, "t", TrainConfig(epochs=1), progress=False)


def test_nan_loss_rolls_back_to_the_saved_state_with_a_smaller_lr(tmp_path, monkeypatch):
    """--on-nan rollback: a NaN at step 12 sends training back to the state saved at
    step 10, the learning rate divided by lr_decay, and training then completes; the
    weights never see the NaN."""
    text = "ab" * 200 + "\n"
    tok = CharTokenizer.fit(text)
    model = make_model(tok, 16, 8)
    real_forward, calls = model.forward, []

    def forward(*args):
        calls.append(1)
        return float("nan") if len(calls) == 12 else real_forward(*args)

    monkeypatch.setattr(model, "forward", forward)
    config = LanguageModelTrainConfig(
        batch=4,
        bptt=16,
        epochs=2,
        lr=0.01,
        lr_decay=4.0,
        save_every=5,
        on_nan="rollback",
        log_every=100,
    )
    history = train(model, tok, text, config=config, out_dir=tmp_path, progress=False)
    events = [r for r in read_metrics(tmp_path) if r["event"] == "rollback"]
    assert [(e["step"], e["to_step"], e["lr"]) for e in events] == [(12, 10, 0.0025)]
    assert np.all(np.isfinite(model.flat_params))
    assert [r["epoch"] for r in history] == [1, 2]


def test_nan_loss_stops_by_default(tmp_path):
    text = "ab" * 200 + "\n"
    tok = CharTokenizer.fit(text)
    model = make_model(tok, 16, 8)
    model.params["output.b"][0] = np.nan
    with pytest.raises(ElmanError, match="at step 1, so the weights were not updated"):
        train(
            model,
            tok,
            text,
            config=LanguageModelTrainConfig(batch=4, bptt=16, epochs=1),
            progress=False,
        )


def test_average_after_keeps_the_mean_of_the_weights_after_each_later_step():
    """Without validation text the latest weights are kept, so with --average-after the
    result is the mean of the weights after each step past epoch 1, which plain runs
    stopped after each of those steps give one by one."""
    text = "abcab" * 40 + "\n"
    tok = CharTokenizer.fit(text)
    base = {"batch": 4, "bptt": 8, "optimizer": "sgd", "lr": 0.5}
    steps_per_epoch = len(make_batches(tok.encode(text), "carry", tok.eos_id, 4, 8))
    total = 2 * steps_per_epoch + 1  # into the third epoch
    averaged = make_model(tok, 16, 8)
    config = LanguageModelTrainConfig(**base, max_steps=total, average_after=1)
    train(averaged, tok, text, None, config, progress=False)
    after_step = []
    for steps in range(steps_per_epoch + 1, total + 1):
        plain = make_model(tok, 16, 8)
        train(
            plain,
            tok,
            text,
            None,
            LanguageModelTrainConfig(**base, max_steps=steps),
            progress=False,
        )
        after_step.append(plain.flat_params.copy())
    assert_close(averaged.flat_params, np.mean(after_step, axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(averaged.flat_params, after_step[-1])  # it is not the last one


def test_an_averaging_run_resumes_to_the_same_weights(tmp_path):
    text = "abcab" * 40 + "\n"
    tok = CharTokenizer.fit(text)
    config = LanguageModelTrainConfig(batch=4, bptt=8, max_steps=30, average_after=1, save_every=0)
    whole = make_model(tok, 16, 8)
    train(whole, tok, text, "abcab\n", config, out_dir=tmp_path / "whole", progress=False)
    part = make_model(tok, 16, 8)
    first = dataclasses.replace(config, max_steps=17)  # stops mid-epoch, past epoch 1
    train(part, tok, text, "abcab\n", first, out_dir=tmp_path / "part", progress=False)
    resumed = make_model(tok, 16, 8)
    train(resumed, tok, text, "abcab\n", config, out_dir=tmp_path / "part", resume=True,
          progress=False)  # fmt: skip
    assert np.array_equal(resumed.flat_params, whole.flat_params)
    assert "average_params" in safetensors.numpy.load_file(tmp_path / "part" / "resume.safetensors")
    for name in ("model.safetensors", "resume.safetensors"):
        assert same_tensors(tmp_path / "part" / name, tmp_path / "whole" / name), name


def test_a_run_cut_short_mid_epoch_resumes_on_the_same_learning_rate_schedule(tmp_path):
    """A time or step limit ends an epoch part-way: it is validated and marked, but the
    rate decays only when the epoch really ends, so that stopping and resuming (as a
    long recipe does across sessions) trains exactly as one run would."""
    text = "abcab" * 40 + "\n"
    tok = CharTokenizer.fit(text)
    config = LanguageModelTrainConfig(
        batch=4, bptt=8, epochs=4, optimizer="sgd", lr=0.5, lr_decay=2.0, decay_after=1
    )
    whole = make_model(tok, 16, 8)
    one_run = train(whole, tok, text, "abcab\n", config, out_dir=tmp_path / "whole",
                    progress=False)  # fmt: skip
    part = make_model(tok, 16, 8)
    cut = dataclasses.replace(config, epochs=0, max_steps=17)  # 7 steps an epoch: in epoch 3
    first = train(part, tok, text, "abcab\n", cut, out_dir=tmp_path / "part", progress=False)
    assert [(r["epoch"], r["lr"], r.get("partial", False)) for r in first] == [
        (1, 0.5, False),
        (2, 0.25, False),
        (3, 0.125, True),
    ]
    resumed = make_model(tok, 16, 8)
    history = train(resumed, tok, text, "abcab\n", config, out_dir=tmp_path / "part",
                    resume=True, progress=False)  # fmt: skip
    assert [r["lr"] for r in history if not r.get("partial")] == [r["lr"] for r in one_run]
    assert [r["lr"] for r in one_run] == [0.5, 0.25, 0.125, 0.0625]
    assert np.array_equal(resumed.flat_params, whole.flat_params)


def test_a_validation_mid_epoch_does_not_move_the_plateau_rule(tmp_path, monkeypatch):
    """Scripted validation perplexities: 10 after epoch 1, 5 at a cut mid-epoch 2, 7 at
    epoch 2's end. An unbroken run sees 10 -> 7, an improvement, so neither run may
    decay there, although 7 is worse than the 5 seen at the cut (whose weights are the
    ones kept as best)."""
    text = "abcab" * 40 + "\n"  # 7 steps an epoch at batch 4, bptt 8
    tok = CharTokenizer.fit(text)
    config = LanguageModelTrainConfig(
        batch=4, bptt=8, epochs=2, optimizer="sgd", lr=0.5, lr_decay=2.0
    )
    scripted = iter([10.0, 5.0, 7.0])
    monkeypatch.setattr(
        sys.modules["elman.lm.task"],
        "evaluate_ids",
        lambda *args: types.SimpleNamespace(
            loss=0.0, perplexity=next(scripted), tokens=5, bits_per_char=1.0, bits_per_byte=1.0,
            chars=5, bytes=5, unknown=0,
        ),
    )  # fmt: skip
    cut = dataclasses.replace(config, epochs=0, max_steps=10)
    train(make_model(tok, 16, 8), tok, text, "abcab\n", cut, out_dir=tmp_path, progress=False)
    history = train(make_model(tok, 16, 8), tok, text, "abcab\n", config, out_dir=tmp_path,
                    resume=True, progress=False)  # fmt: skip
    assert [(r["valid_ppl"], r["lr"], r["saved"]) for r in history] == [
        (10.0, 0.5, True),
        (5.0, 0.5, True),
        (7.0, 0.5, False),
    ]
    with safetensors.safe_open(tmp_path / "resume.safetensors", "numpy") as f:
        assert json.loads(f.metadata()["elman"])["resume"]["optimizer"]["lr"] == 0.5  # epoch 2


def test_threads_n_holds_for_the_steps_validation_and_then_the_count_comes_back(
    blas_at_two_threads, monkeypatch
):
    """With --threads 2 the steps and the validation run with two BLAS threads (left to
    itself, elman.blas starts with one), and the library keeps its own count after."""
    tok = CharTokenizer.fit(FOX)
    model = make_model(tok)
    seen: dict[str, list[set[int]]] = {"forward": [], "nll": []}
    for method, calls in seen.items():
        real = getattr(model, method)

        def counted(*args, real=real, calls=calls):
            calls.append(blas_at_two_threads())
            return real(*args)

        monkeypatch.setattr(model, method, counted)
    config = LanguageModelTrainConfig(batch=2, bptt=8, max_steps=8, eval_batch=1, threads=2)
    train(model, tok, FOX * 5, FOX * 3, config=config, progress=False)
    assert len(seen["forward"]) == 8
    assert len(seen["nll"]) > blas.WARMUP + blas.SAMPLES  # past elman.blas's first trial
    assert all(counts == {2} for calls in seen.values() for counts in calls)
    assert blas_at_two_threads() == {2}


def overflowing_model(tok, state="reset") -> LanguageModel:
    """A ReLU RNN with W_h = 1.1 I: its state grows by a tenth at every step, past the
    largest float32 after about a thousand (issue 26), while a short line stays finite."""
    config = LanguageModelConfig(
        vocab_size=len(tok), embed=8, hidden=16, cell="rnn-relu", state=state
    )
    model = LanguageModel(config, seed=0)
    model.params["rnn.0.W_h"][...] = 1.1 * np.eye(16)
    return model


LONG_LINE = "the quick brown fox jumps over the lazy dog " * 60 + "\n"  # 2,641 characters


@pytest.mark.parametrize("state", ["reset", "carry"])
def test_a_validation_loss_that_overflows_stops_training_and_keeps_no_model(tmp_path, state):
    """Training on short lines stays finite; validation on one long line overflows.
    That validation loss is a divergence: training stops naming it, and no model is
    kept as the best (the checkpoint stays the one the run started with, at epoch 0)."""
    text = FOX * 20
    tok = CharTokenizer.fit(text + LONG_LINE)
    model = overflowing_model(tok, state)
    config = LanguageModelTrainConfig(
        batch=4, bptt=16, epochs=1, lr=1e-9, eval_batch=1, restart_every=0
    )
    if state == "carry":  # short training streams: restarted every chunk
        config = dataclasses.replace(config, restart_every=1)
    with np.errstate(over="ignore", invalid="ignore"):
        message = r"the validation loss became nan after step \d+, so that model was not kept"
        with pytest.raises(ElmanError, match=message):
            train(model, tok, text, LONG_LINE, config, out_dir=tmp_path, progress=False)
    config_json = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert config_json["info"] == {"epoch": 0}
    assert [r for r in read_metrics(tmp_path) if r["event"] == "epoch"] == []


def test_a_validation_loss_far_above_a_uniform_guess_rolls_back(tmp_path, monkeypatch):
    """A finite validation loss the divergence rule calls diverged (5.27e15, as issue 26
    saw kept as the best model) is treated as a diverged training loss is: with
    --on-nan rollback, back to the last saved state with a smaller rate, then on."""
    from elman.lm.task import LanguageModelTask

    text = "ab" * 200 + "\n"
    tok = CharTokenizer.fit(text)
    real_validate, calls = LanguageModelTask.validate, []

    def validate(self):
        calls.append(1)
        figures = real_validate(self)
        return {**figures, "loss": 5.27e15} if len(calls) == 1 else figures

    monkeypatch.setattr(LanguageModelTask, "validate", validate)
    config = LanguageModelTrainConfig(batch=4, bptt=16, epochs=2, lr=0.01, lr_decay=4.0,
                                      save_every=3, on_nan="rollback", log_every=100)  # fmt: skip
    history = train(make_model(tok, 16, 8), tok, text, text, config, tmp_path, progress=False)
    events = [r for r in read_metrics(tmp_path) if r["event"] == "rollback"]
    assert [(e["step"], e["to_step"], e["lr"]) for e in events] == [
        (7, 6, 0.0025)
    ]  # 7 steps an epoch
    assert [r["epoch"] for r in history] == [1, 2] and len(calls) == 3
    assert all(r["valid_loss"] < 10 for r in history)
    config = dataclasses.replace(config, on_nan="stop")
    calls.clear()
    with pytest.raises(ElmanError, match=r"validation loss became 5.27e\+15 after step 7 "):
        train(make_model(tok, 16, 8), tok, text, text, config, tmp_path / "b", progress=False)


# Who computes the recurrent products (elman.gemm) ------------------------------------


def lstm_run(tok, text, out, config, resume=False):
    model = LanguageModel(ModelConfig(vocab_size=len(tok), embed=8, hidden=16, cell="lstm"))
    train(model, tok, text, "abcab\n", config, out_dir=out, resume=resume, progress=False)
    return model


def recorded_gemm(out):
    with safetensors.safe_open(out / "resume.safetensors", "numpy") as f:
        return json.loads(f.metadata()["elman"])["resume"]["gemm"]


def test_mkl_products_train_as_numpys_to_float32_rounding(tmp_path, mkl_gemm):
    text = "abcab" * 40 + "\n"
    tok = CharTokenizer.fit(text)
    config = LanguageModelTrainConfig(batch=4, bptt=8, max_steps=10, threads=1)
    runs = {
        name: lstm_run(tok, text, tmp_path / name, dataclasses.replace(config, gemm=name))
        for name in ("numpy", "mkl")
    }
    assert {name: recorded_gemm(tmp_path / name) for name in runs} == {
        "numpy": "numpy",
        "mkl": "mkl",
    }
    assert runs["mkl"].gemm.name == "mkl"
    assert_close(runs["mkl"].flat_params, runs["numpy"].flat_params, rtol=1e-4, atol=1e-5)


def test_a_run_with_threads_n_resumes_on_the_product_path_it_chose(tmp_path, mkl_gemm, monkeypatch):
    """--gemm auto with --threads N: the path timed at the start (here MKL, made to win) is
    kept in the training state, and the resumed run takes it from there without timing,
    so that it ends as the unbroken run did, bit for bit."""
    text = "abcab" * 40 + "\n"
    tok = CharTokenizer.fit(text)
    config = LanguageModelTrainConfig(batch=4, bptt=8, max_steps=20, threads=1)
    monkeypatch.setattr(sys.modules["elman.gemm"], "SMALL", 0)
    monkeypatch.setattr(
        sys.modules["elman.gemm"], "_time_loops", lambda gemm, *_: {"numpy": 2, "mkl": 1}[gemm.name]
    )
    whole = lstm_run(tok, text, tmp_path / "whole", config)
    lstm_run(tok, text, tmp_path / "part", dataclasses.replace(config, max_steps=9))
    assert recorded_gemm(tmp_path / "part") == "mkl"
    monkeypatch.setattr(sys.modules["elman.gemm"], "_time_loops", pytest.fail)
    resumed = lstm_run(tok, text, tmp_path / "part", config, resume=True)
    assert resumed.gemm.name == "mkl"
    assert np.array_equal(resumed.flat_params, whole.flat_params)


def test_a_run_that_needs_mkl_to_resume_exactly_says_so_without_it(tmp_path, mkl_gemm, monkeypatch):
    text = "abcab" * 40 + "\n"
    tok = CharTokenizer.fit(text)
    config = LanguageModelTrainConfig(batch=4, bptt=8, max_steps=9, threads=1)
    monkeypatch.setattr(sys.modules["elman.gemm"], "SMALL", 0)
    monkeypatch.setattr(
        sys.modules["elman.gemm"], "_time_loops", lambda gemm, *_: {"numpy": 2, "mkl": 1}[gemm.name]
    )
    lstm_run(tok, text, tmp_path, config)  # --gemm auto: MKL, made to win
    monkeypatch.setattr(sys.modules["elman.gemm"], "_load", lambda: "the mkl package is gone")
    longer = dataclasses.replace(config, max_steps=20)  # gemm "auto", as a resume reads it
    expected = "trained on MKL's products with --threads 1, and resuming it exactly needs them"
    with pytest.raises(ElmanError, match=expected + " again, but the mkl package is gone"):
        lstm_run(tok, text, tmp_path, longer, resume=True)
