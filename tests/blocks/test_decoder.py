"""The conditional decoder (elman.blocks.decoder): every gradient (parameters, condition,
memory) against central finite differences in float64, with and without a bridge, peeky
input and each attention score, for every cell, T = 1 and B = 1 included; PyTorch
autograd on identical weights; its pure step against its sequence form; and, with the
conditioning weights zero, the plain language model (elman.lm.LanguageModel reading
lines from a zero state) to the last gradient."""

from __future__ import annotations

import numpy as np
import pytest

from elman.blocks.decoder import Conditioning, Decoder, DecoderConfig, take_state
from elman.config import CELLS, ModelConfig
from elman.data.batching import LineBatches
from elman.lm.model import LanguageModel
from elman.nn.network import Network
from tests.numeric import assert_close, numerical_gradient
from tests.torch_reference import grads_from, load_into

V, D, H, C, HM, A = 7, 4, 4, 3, 5, 6


class DecoderNet(Network):
    """A decoder packed alone, as a model that owns one would pack it."""

    def __init__(self, config: ModelConfig, seed: int = 0, dtype=np.float64, **options) -> None:
        rng = np.random.default_rng(seed)
        self.dropout_rng = np.random.default_rng([seed, 1])
        self.decoder = Decoder(config, rng, self.dropout_rng, **options)
        self.dropouts = self.decoder.dropouts
        self.pack(self.decoder.layers(), dtype, skip=self.decoder.tied())
        self.decoder.tie(self.params, self.grads)


def make(cell="lstm", layers=1, embed=D, hidden=H, seed=0, dtype=np.float64, tie=False,
         dropout=0.0, dropout_kind="standard", **options) -> DecoderNet:  # fmt: skip
    config = DecoderConfig(
        vocab_size=V, embed=embed, hidden=hidden, cell=cell, layers=layers, tie=tie,
        dropout=dropout, dropout_kind=dropout_kind,
    )  # fmt: skip
    net = DecoderNet(config, seed, dtype, **options)
    # Biases start at zero (the LSTM's forget gate at one): random ones test their
    # gradients away from that point.
    rng = np.random.default_rng(seed + 100)
    for name, p in net.params.items():
        if name.endswith((".b", ".b_x", ".b_h")):
            p += rng.normal(0, 0.3, p.shape)
    return net


def inputs_for(B, T, S, seed=1, lengths=None, target_lengths=None):
    """Token ids, a mask with padding, a condition and a padded memory."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, V, size=(B, T + 1))
    target_lengths = [T] * B if target_lengths is None else target_lengths
    mask = np.arange(T) < np.array(target_lengths)[:, None]
    condition = rng.normal(size=(B, C))
    memory = rng.normal(size=(B, S, HM))
    lengths = np.array([S] * B if lengths is None else lengths)
    return ids[:, :-1], ids[:, 1:], mask, condition, memory, lengths


def decoder_extras(options, condition, memory, lengths):
    """The condition and memory a decoder built with ``options`` reads."""
    extras = {}
    if options.get("bridge") or options.get("peeky"):
        extras["condition"] = condition
    if options.get("attention", "none") != "none":
        extras |= {"memory": memory, "memory_lengths": lengths}
    return extras


def options_for(bridge, peeky, attention):
    options = {"bridge": bridge, "peeky": peeky, "attention": attention}
    if bridge or peeky:
        options["condition_size"] = C
    if attention != "none":
        options |= {"memory_size": HM, "attention_size": A}
    return options


# (B, T, S, memory lengths, target lengths): padding on both sides, T = 1, B = 1.
SHAPES = [
    (2, 4, 5, [5, 2], [4, 2]),
    (1, 1, 1, [1], [1]),
    (3, 1, 3, [3, 1, 2], [1, 1, 1]),
    (1, 3, 4, [2], [3]),
]
# (bridge, peeky, attention)
VARIANTS = [
    (True, False, "none"),
    (False, True, "none"),
    (True, True, "none"),
    (True, False, "dot"),
    (False, False, "general"),
    (True, True, "additive"),
]


def check_gradients(net, options, shape, seed=1):
    B, T, S, lengths, target_lengths = shape
    inputs, targets, mask, condition, memory, lengths = inputs_for(
        B, T, S, seed, lengths, target_lengths
    )
    extras = decoder_extras(options, condition, memory, lengths)
    state = net.dropout_rng.bit_generator.state

    def loss():
        net.dropout_rng.bit_generator.state = state  # the same dropout masks every time
        return net.decoder.forward(inputs, targets, mask, **extras)

    net.zero_grad()
    loss()
    given = net.decoder.backward()
    for name, grad in net.grads.items():
        expected = numerical_gradient(loss, net.params[name])
        # Two may not matter: W_h multiplies h_0 = 0 when there is one step and no bridge,
        # and the scores do not change weights of 1 over a memory of one step.
        zero_state = T == 1 and not options.get("bridge") and name.endswith("W_h")
        one_step = name.startswith("attention.") and max(lengths) == 1
        assert zero_state or one_step or np.abs(expected).max() > 0, f"{name} has no effect"
        assert_close(grad, expected, rtol=1e-5, atol=1e-8)
    if "condition" in extras:
        assert_close(given.condition, numerical_gradient(loss, condition), rtol=1e-5, atol=1e-8)
    else:
        assert given.condition is None
    if "memory" in extras:
        assert_close(given.memory, numerical_gradient(loss, memory), rtol=1e-5, atol=1e-8)
        for b, n in enumerate(lengths):
            assert not given.memory[b, n:].any()  # padding: exactly zero
    else:
        assert given.memory is None


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("bridge", "peeky", "attention"), VARIANTS)
def test_gradients_match_finite_differences(bridge, peeky, attention, shape):
    """Every parameter, the condition and the memory, LSTM decoder: backward against
    central differences of the masked mean loss in float64."""
    if attention == "dot":
        hidden = HM  # the dot score needs queries as wide as the memory
    else:
        hidden = H
    options = options_for(bridge, peeky, attention)
    net = make("lstm", embed=hidden, hidden=hidden, **options)
    check_gradients(net, options, shape)


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_two_layers_with_dropout_and_tying(cell):
    """Two layers (one bridge each), peeky, general attention, tied output, standard
    dropout 0.3 with its masks replayed: every gradient against central differences."""
    options = options_for(True, True, "general")
    net = make(cell, layers=2, tie=True, dropout=0.3, **options)
    assert "output.W" not in net.params
    check_gradients(net, options, SHAPES[0])


def test_locked_dropout_draws_one_mask_per_sequence():
    options = options_for(True, False, "additive")
    net = make("gru", layers=2, dropout=0.4, dropout_kind="locked", **options)
    check_gradients(net, options, SHAPES[0])
    assert [d.mask.shape for d in net.dropouts] == [(2, 1, D), (2, 1, H), (2, 1, H)]


def test_without_conditioning_the_decoder_is_a_language_model_block():
    """No condition and no memory: only the language model's parameters, and gradients
    as the finite differences say."""
    net = make("rnn", layers=2)
    assert set(net.params) == {
        "embed.W", "rnn.0.W_x", "rnn.0.W_h", "rnn.0.b", "rnn.1.W_x", "rnn.1.W_h", "rnn.1.b",
        "output.W", "output.b",
    }  # fmt: skip
    check_gradients(net, {}, SHAPES[0])


# PyTorch ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("bridge", "peeky", "attention"), VARIANTS)
def test_matches_torch(bridge, peeky, attention, cell, dtype):
    """The same decoder in torch modules and autograd (tests/torch_models.py), identical
    weights loaded through elman.torch_names: loss, every parameter's gradient and the
    gradients of the condition and the memory."""
    torch = pytest.importorskip("torch")
    from tests.torch_models import TorchDecoder

    hidden = HM if attention == "dot" else H
    options = options_for(bridge, peeky, attention)
    tie = cell == "gru"  # tying on one cell, so each combination stays small
    net = make(cell, layers=2, embed=hidden, hidden=hidden, tie=tie, dtype=dtype, **options)
    ref = TorchDecoder(
        cell, V, hidden, hidden, 2, condition=C, bridge=bridge, peeky=peeky,
        attention=attention, memory=HM, attention_size=A, tie=tie,
    ).to(torch.float64 if dtype == np.float64 else torch.float32)  # fmt: skip
    load_into(torch, ref, net.params)
    inputs, targets, mask, condition, memory, lengths = inputs_for(3, 4, 5, 2, [5, 1, 3], [4, 1, 2])
    condition, memory = condition.astype(dtype), memory.astype(dtype)
    extras = decoder_extras(options, condition, memory, lengths)

    t_condition = torch.tensor(condition, requires_grad=True)
    t_memory = torch.tensor(memory, requires_grad=True)
    t_loss = ref(
        torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(mask),
        t_condition, t_memory, torch.from_numpy(lengths),
    )  # fmt: skip
    t_loss.backward()

    loss = net.decoder.forward(inputs, targets, mask, **extras)
    given = net.decoder.backward()
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-4, atol=1e-6)
    assert loss == pytest.approx(t_loss.item(), rel=tol["rtol"])
    expected = grads_from(ref, net.params)
    for name, grad in net.grads.items():
        assert_close(grad, expected[name], **tol)
    if "condition" in extras:
        assert_close(given.condition, t_condition.grad.numpy(), **tol)
    if "memory" in extras:
        assert_close(given.memory, t_memory.grad.numpy(), **tol)


# Pure forms ---------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(("bridge", "peeky", "attention"), VARIANTS)
def test_step_agrees_with_the_sequence_and_with_training(bridge, peeky, attention, cell):
    """``step`` one token at a time gives ``apply``'s logits, attention weights and final
    state; ``nll`` gives ``forward``'s loss (no dropout); neither caches anything."""
    hidden = HM if attention == "dot" else H
    options = options_for(bridge, peeky, attention)
    net = make(cell, layers=2, embed=hidden, hidden=hidden, **options)
    B, T, S = 3, 5, 4
    inputs, targets, mask, condition, memory, lengths = inputs_for(B, T, S, 3, [4, 2, 1])
    extras = decoder_extras(options, condition, memory, lengths)
    memory_args = (extras.get("memory"), extras.get("memory_lengths"))
    conditioning, state0 = net.decoder.prepare(B, extras.get("condition"), *memory_args)
    logits, weights, final = net.decoder.apply(inputs, conditioning, state0)
    state = state0
    for t in range(T):
        step_logits, step_weights, state = net.decoder.step(inputs[:, t], conditioning, state)
        assert_close(step_logits, logits[:, t], rtol=1e-12, atol=1e-14)
        if attention == "none":
            assert step_weights is None and weights is None
        else:
            assert_close(step_weights, weights[:, t], rtol=1e-12, atol=1e-14)
    for ours, theirs in zip(state, final, strict=True):
        ours, theirs = (x if isinstance(x, tuple) else (x,) for x in (ours, theirs))
        for a, b in zip(ours, theirs, strict=True):
            assert_close(a, b, rtol=1e-12, atol=1e-14)

    total, count = net.decoder.nll(inputs, targets, mask, **extras)
    loss = net.decoder.forward(inputs, targets, mask, **extras)
    assert count == mask.sum() and total / count == pytest.approx(loss, rel=1e-12)


def test_take_repeats_and_reorders_rows_for_a_beam():
    """Conditioning.take and take_state pick rows of everything: decoding rows (1, 1, 0)
    gives rows (1, 1, 0) of decoding all three."""
    options = options_for(True, True, "additive")
    net = make("lstm", layers=2, **options)
    inputs, _, _, condition, memory, lengths = inputs_for(3, 3, 4, 4, [4, 1, 2])
    conditioning, state = net.decoder.prepare(3, condition, memory, lengths)
    rows = np.array([1, 1, 0])
    picked, picked_state = conditioning.take(rows), take_state(state, rows)
    assert isinstance(picked, Conditioning) and picked.keys.shape == (3, 4, A)
    all_logits, all_weights, _ = net.decoder.step(inputs[:, 0], conditioning, state)
    logits, weights, _ = net.decoder.step(inputs[rows, 0], picked, picked_state)
    assert_close(logits, all_logits[rows], rtol=1e-12)
    assert_close(weights, all_weights[rows], rtol=1e-12)


# The language model ---------------------------------------------------------------------


LINES = "abc\nbca a\nc\naab cab\nbb\n"


@pytest.mark.parametrize("tie", [False, True])
@pytest.mark.parametrize("dropout_kind", ["standard", "locked"])
@pytest.mark.parametrize("cell", CELLS)
def test_zero_conditioning_weights_give_the_language_model(cell, dropout_kind, tie):
    """The acceptance test of one-to-many generation (issue 18): a decoder with a bridge
    per layer and a peeky first layer whose conditioning weights are zero, given any
    condition, has the loss and, for every other parameter, the gradient of
    elman.lm.LanguageModel with the same weights reading the same lines from a zero
    state (--state reset), dropout masks included."""
    from elman.data.tokenizers import CharTokenizer

    tokenizer = CharTokenizer.fit(LINES)
    config = DecoderConfig(
        vocab_size=len(tokenizer), embed=H, hidden=H, cell=cell, layers=2, tie=tie,
        dropout=0.3, dropout_kind=dropout_kind,
    )  # fmt: skip
    lm = LanguageModel(config, seed=5, dtype=np.float64)
    rng = np.random.default_rng(5)
    net = DecoderNet(config, seed=5, condition_size=C, bridge=True, peeky=True)
    for name, value in lm.params.items():
        net.params[name][: len(value)] = value  # rnn.0.W_x: the first D rows
    for weights, _ in net.decoder.conditioning_weights():
        weights[...] = 0
    batches = LineBatches(tokenizer.encode(LINES), tokenizer.eos_id, batch=3, bptt=50)
    for batch in batches:
        assert batch.reset  # each group of lines in one chunk, from a zero state
        lm.zero_grad()
        net.zero_grad()
        lm.reset_state()
        lm_loss = lm.forward(batch.inputs, batch.targets, batch.mask)
        lm.backward()
        condition = rng.normal(size=(len(batch.inputs), C))
        loss = net.decoder.forward(batch.inputs, batch.targets, batch.mask, condition=condition)
        net.decoder.backward()
        assert loss == pytest.approx(lm_loss, rel=1e-12)
        assert set(net.grads) - set(lm.grads) == {"bridge.0.W", "bridge.0.b", "bridge.1.W",
                                                  "bridge.1.b"}  # fmt: skip
        for name, grad in lm.grads.items():
            assert_close(net.grads[name][: len(grad)], grad, rtol=1e-10, atol=1e-14)
        assert net.grads["bridge.0.W"].any()  # the condition would start to matter
    assert lm.dropout_rng.random() == net.dropout_rng.random()  # the same draws, in order


# Settings and shapes ---------------------------------------------------------------------


def test_init_draws_the_language_models_parameters_first():
    """Same seed, same language-model parameters (the bridge, attention and combine are
    drawn after them), and the conditioning starts small but not zero."""
    config = ModelConfig(vocab_size=V, embed=D, hidden=H, cell="gru", layers=2)
    lm = LanguageModel(config, seed=3, dtype=np.float64)
    net = DecoderNet(config, seed=3, **options_for(True, False, "general"))
    for name, value in lm.params.items():
        assert np.array_equal(net.params[name], value), name
    assert net.params["bridge.0.W"].any() and not net.params["bridge.0.b"].any()
    assert net.params["attention.W_a"].shape == (H, HM)
    assert net.params["combine.W"].shape == (HM + H, H)


def test_float32_stays_float32():
    options = options_for(True, True, "additive")
    net = make("lstm", dtype=np.float32, **options)
    inputs, targets, mask, condition, memory, lengths = inputs_for(2, 3, 4, 5, [4, 2])
    net.decoder.forward(inputs, targets, mask, condition, memory, lengths)
    given = net.decoder.backward()
    assert given.condition.dtype == given.memory.dtype == np.float32
    assert net.flat_grads.dtype == np.float32 and np.isfinite(net.flat_grads).all()


def test_refuses_inputs_it_was_not_built_for():
    options = options_for(True, False, "general")
    net = make("gru", **options)
    inputs, targets, mask, condition, memory, lengths = inputs_for(2, 3, 4, 6, [4, 2])
    with pytest.raises(ValueError, match="reads a condition of size 3; got none"):
        net.decoder.forward(inputs, targets, mask, memory=memory, memory_lengths=lengths)
    with pytest.raises(ValueError, match=r"expected a condition of shape \(2, 3\), got \(2, 4\)"):
        net.decoder.forward(inputs, targets, mask, np.zeros((2, 4)), memory, lengths)
    with pytest.raises(ValueError, match=r"expected a memory of shape \(2, S, 5\), got None"):
        net.decoder.forward(inputs, targets, mask, condition)
    plain = make("gru")
    with pytest.raises(ValueError, match=r"expected a condition of shape none"):
        plain.decoder.forward(inputs, targets, mask, condition)
    with pytest.raises(ValueError, match="has no attention, so it reads no memory"):
        plain.decoder.forward(inputs, targets, mask, memory=memory)
    config = ModelConfig(vocab_size=V, embed=D, hidden=H)
    with pytest.raises(ValueError, match="needs a condition"):
        DecoderNet(config, bridge=True)
    with pytest.raises(ValueError, match="attention must be one of"):
        DecoderNet(config, attention="cosine", memory_size=HM)
