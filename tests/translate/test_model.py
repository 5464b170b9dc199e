"""The whole translator (source embedding, encoder, summary, bridge, attention, decoder):
the loss's gradient for every parameter against central finite differences in float64,
and loss and gradients against the same model written with PyTorch modules and autograd
(tests/torch_models.py) on identical weights, sources and targets padded."""

from __future__ import annotations

import numpy as np
import pytest

from elman.config import CELLS
from elman.errors import ElmanError
from elman.translate.model import (
    MAX_BEAM,
    TranslateConfig,
    Translator,
    TranslatorModelConfig,
    parameter_count,
)
from tests.numeric import assert_close, numerical_gradient
from tests.torch_reference import grads_from, load_into

VS, VT, D, H = 6, 7, 4, 4


def make(cell="lstm", layers=1, bidirectional=False, dtype=np.float64, seed=0, model=None,
         **translate) -> Translator:  # fmt: skip
    config = TranslatorModelConfig(
        vocab_size=VT, embed=D, hidden=H, cell=cell, layers=layers, bidirectional=bidirectional,
        **(model or {}),
    )  # fmt: skip
    translator = Translator(
        config, TranslateConfig(source_vocab_size=VS, **translate), seed=seed, dtype=dtype
    )
    rng = np.random.default_rng(seed + 100)  # biases away from their zero start
    for name, p in translator.params.items():
        if name.endswith((".b", ".b_x", ".b_h")):
            p += rng.normal(0, 0.3, p.shape)
    return translator


def batch(seed=1, B=3, S=5, T=4, source_lengths=(5, 2, 3), target_lengths=(4, 1, 3)):
    """Right-padded sources and targets with their masks (padding holds junk ids)."""
    rng = np.random.default_rng(seed)
    source = rng.integers(0, VS, size=(B, S))
    ids = rng.integers(0, VT, size=(B, T + 1))
    mask = np.arange(T) < np.array(target_lengths)[:, None]
    return source, np.array(source_lengths), ids[:, :-1], ids[:, 1:], mask


# (cell, layers, bidirectional, TranslateConfig settings)
CONFIGS = [
    ("lstm", 2, True, dict(attention="general", bridge=True, peeky=True)),
    ("gru", 1, False, dict(attention="additive", bridge=True)),
    ("rnn", 1, False, dict(attention="dot", bridge=False)),
    ("lstm", 1, True, dict(attention="none", bridge=True)),
    ("gru", 2, False, dict(attention="none", bridge=False, peeky=True)),
]


@pytest.mark.parametrize(("cell", "layers", "bidirectional", "settings"), CONFIGS)
def test_gradients_match_finite_differences(cell, layers, bidirectional, settings, gemm):
    """Every parameter, encoder included (through attention, through the summary, or
    both), against central differences of the mean loss over the real target tokens; with
    numpy's products and MKL's."""
    model = make(cell, layers, bidirectional, **settings)
    model.use_gemm(gemm)
    source, lengths, inputs, targets, mask = batch()

    def loss():
        return model.forward(source, lengths, inputs, targets, mask)

    model.zero_grad()
    loss()
    model.backward()
    for name, grad in model.grads.items():
        expected = numerical_gradient(loss, model.params[name])
        assert np.abs(expected).max() > 0, f"{name} does not affect the loss"
        assert_close(grad, expected, rtol=1e-5, atol=1e-8)


def test_padding_changes_nothing():
    """Junk ids in the source's and the target's padding: the same loss and gradients as
    with zeros there."""
    model = make("lstm", 2, True, attention="additive", peeky=True)
    source, lengths, inputs, targets, mask = batch()
    runs = []
    for fill in (0, 3):
        s, i, t = source.copy(), inputs.copy(), targets.copy()
        s[np.arange(s.shape[1]) >= lengths[:, None]] = fill
        i[~mask], t[~mask] = fill, fill
        model.zero_grad()
        loss = model.forward(s, lengths, i, t, mask)
        model.backward()
        runs.append((loss, model.flat_grads.copy()))
    assert runs[0][0] == pytest.approx(runs[1][0], rel=1e-12)
    assert_close(runs[0][1], runs[1][1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_matches_torch(cell, bidirectional, dtype, gemm):
    """Loss and every gradient against torch (packed sequences for the encoder) with the
    same weights: general attention, bridge, peeky, tied decoder embeddings, 2 layers;
    with numpy's products and MKL's."""
    torch = pytest.importorskip("torch")
    from tests.torch_models import TorchTranslator

    settings = dict(attention="general", bridge=True, peeky=True)
    model = make(cell, 2, bidirectional, dtype, model={"tie": True}, **settings)
    model.use_gemm(gemm)
    ref = TorchTranslator(cell, VS, VT, D, H, 2, bidirectional, tie=True, **settings).to(
        torch.float64 if dtype == np.float64 else torch.float32
    )
    load_into(torch, ref, model.params)
    source, lengths, inputs, targets, mask = batch(seed=2)
    t_loss = ref.translation_loss(*map(torch.from_numpy, (source, lengths, inputs, targets, mask)))
    t_loss.backward()
    loss = model.forward(source, lengths, inputs, targets, mask)
    model.backward()
    tol = dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=2e-6)
    assert loss == pytest.approx(t_loss.item(), rel=tol["rtol"])
    expected = grads_from(ref, model.params)
    for name, grad in model.grads.items():
        assert_close(grad, expected[name], **tol)


def test_nll_is_the_training_loss_without_dropout():
    model = make("gru", 2, True, model={"dropout": 0.3}, attention="additive")
    source, lengths, inputs, targets, mask = batch(seed=3)
    total, count = model.nll(source, lengths, inputs, targets, mask)
    model.training = False
    assert count == mask.sum()
    assert total / count == pytest.approx(model.forward(source, lengths, inputs, targets, mask))
    model.training = True
    assert total / count != pytest.approx(model.forward(source, lengths, inputs, targets, mask))


def test_parameter_names():
    model = make("lstm", 1, True, attention="general")
    assert list(model.params) == [
        "source_embed.W",
        "encoder.0.forward.W_x", "encoder.0.forward.W_h", "encoder.0.forward.b",
        "encoder.0.reverse.W_x", "encoder.0.reverse.W_h", "encoder.0.reverse.b",
        "embed.W", "rnn.0.W_x", "rnn.0.W_h", "rnn.0.b", "output.W", "output.b",
        "bridge.0.W", "bridge.0.b", "attention.W_a", "combine.W", "combine.b",
    ]  # fmt: skip
    assert model.params["attention.W_a"].shape == (H, 2 * H)  # queries H, memory 2H
    assert model.params["bridge.0.W"].shape == (2 * H, H)


def test_settings_a_translator_refuses():
    with pytest.raises(ElmanError, match="would never read the source"):
        TranslateConfig(attention="none", bridge=False)
    config = TranslatorModelConfig(vocab_size=VT, embed=D, hidden=H, bidirectional=True)
    with pytest.raises(ElmanError, match="dot score compares"):
        Translator(config, TranslateConfig(source_vocab_size=VS, attention="dot"))
    for beam in (0, MAX_BEAM + 1, 1_000_000):
        with pytest.raises(ElmanError, match=r"--beam must be between 1 \(greedy\) and 20, got"):
            TranslateConfig(beam=beam)
    TranslateConfig(beam=MAX_BEAM)
    # Bounds that keep a translation's length in reach (issue 26: --max-ratio 1e308
    # overflowed to empty translations, --max-extra 1e9 ran out of memory).
    for max_ratio in (-1, 10.5, 1e308):
        with pytest.raises(ElmanError, match="--max-ratio must be between 0 and 10 "):
            TranslateConfig(max_ratio=max_ratio)
    for max_extra in (-1, 1001, 10**9):
        with pytest.raises(ElmanError, match="--max-extra must be between 0 and 1,000 "):
            TranslateConfig(max_extra=max_extra)
    TranslateConfig(max_ratio=10, max_extra=1000)
    with pytest.raises(ElmanError, match="leaving nothing to train on"):
        TranslateConfig(valid_fraction=0.5, test_fraction=0.5)
    # Tying reads the decoder's H, not a bidirectional encoder's 2H.
    TranslatorModelConfig(vocab_size=VT, embed=H, hidden=H, bidirectional=True, tie=True)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("attention", ["none", "general", "additive"])
def test_parameter_count_without_building_is_the_models(cell, bidirectional, attention):
    """What the memory estimate counts (``parameter_count``) is what a built translator
    holds, with peeky rows, two layers and a tied output layer or not."""
    for layers, peeky, tie in ((1, False, False), (2, True, True)):
        config = TranslatorModelConfig(vocab_size=VT, embed=H if tie else D, hidden=H,
                                       cell=cell, layers=layers, bidirectional=bidirectional,
                                       tie=tie)  # fmt: skip
        translate = TranslateConfig(
            source_vocab_size=VS, attention=attention, peeky=peeky, attention_size=3
        )
        built = Translator(config, translate).flat_params.size
        assert parameter_count(config, translate) == built
