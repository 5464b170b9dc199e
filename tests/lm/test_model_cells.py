"""The whole language model for every cell, with depth, dropout and tied weights: central
finite differences in float64, PyTorch on identical weights, step() against logits(),
initialisation and the settings a language model refuses."""

import numpy as np
import pytest

from elman.blocks.encoder import EncoderConfig
from elman.config import CELLS
from elman.errors import ElmanError
from elman.lm.config import LanguageModelConfig
from elman.lm.model import LanguageModel
from tests.numeric import assert_close, numerical_gradient
from tests.torch_reference import grads_from, load_into

V, B, T = 7, 2, 5


def make_model(cell, layers=1, embed=3, hidden=4, dtype=np.float64, seed=0, **settings):
    config = LanguageModelConfig(
        vocab_size=V, embed=embed, hidden=hidden, cell=cell, layers=layers, **settings
    )
    model = LanguageModel(config, seed=seed, dtype=dtype)
    # Biases start at zero (the LSTM's forget gate at one); random ones check their
    # gradients away from that special point.
    rng = np.random.default_rng(seed + 100)
    for name, p in model.params.items():
        if name.endswith((".b", ".b_x", ".b_h")):
            p += rng.normal(0, 0.3, p.shape)
    return model


def fix_masks(model, monkeypatch):
    """Make every dropout layer reuse the first mask it draws, so the loss is a fixed
    function of the parameters. Returns the masks, filled in by the first forward."""
    masks = {}
    for i, dropout in enumerate(model.dropouts):

        def sample_mask(shape, dtype, i=i, draw=dropout.sample_mask):
            if i not in masks:
                masks[i] = draw(shape, dtype)
            return masks[i]

        monkeypatch.setattr(dropout, "sample_mask", sample_mask)
    return masks


def check_gradients(model, rtol=1e-5, atol=1e-8):
    """Every gradient of the loss against central differences, over a chunk that starts
    from the state carried out of a previous chunk."""
    rng = np.random.default_rng(1)
    ids = rng.integers(0, V, size=(B, 2 * T + 1))
    model.forward(ids[:, :T], ids[:, 1 : T + 1])
    carried = model.state
    assert all(s is not None for s in carried)

    def loss():
        model.state = carried
        return model.forward(ids[:, T:-1], ids[:, T + 1 :])

    model.zero_grad()
    loss()
    model.backward()
    for name, grad in model.grads.items():
        expected = numerical_gradient(loss, model.params[name])
        assert np.abs(expected).max() > 0, f"{name} does not affect the loss"
        assert_close(grad, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_gradients_match_finite_differences(cell, layers, gemm):
    """Every parameter of every cell, 1 and 2 layers, no dropout: backward against
    central differences of the loss in float64, with numpy's products and MKL's."""
    model = make_model(cell, layers)
    model.use_gemm(gemm)
    check_gradients(model)


@pytest.mark.parametrize("kind", ["standard", "locked"])
@pytest.mark.parametrize("cell", CELLS)
def test_gradients_with_fixed_dropout_masks_match_finite_differences(cell, kind, monkeypatch):
    """Dropout 0.3 on the embeddings, between the 2 layers and before the output, with
    fixed masks: backward against central differences, and the masks are really applied
    (the loss differs from evaluation mode, locked masks are (B, 1, size))."""
    model = make_model(cell, layers=2, dropout=0.3, dropout_kind=kind)
    masks = fix_masks(model, monkeypatch)
    check_gradients(model)
    assert len(masks) == 3
    for i, mask in masks.items():
        size = 3 if i == 0 else 4
        assert mask.shape == ((B, 1, size) if kind == "locked" else (B, T, size))
        assert np.any(mask == 0) and np.allclose(mask[mask != 0], 1 / 0.7)

    ids = np.random.default_rng(2).integers(0, V, size=(B, T + 1))
    model.reset_state()
    with_dropout = model.forward(ids[:, :-1], ids[:, 1:])
    model.training = False
    model.reset_state()
    assert model.forward(ids[:, :-1], ids[:, 1:]) != pytest.approx(with_dropout)


@pytest.mark.parametrize("cell", CELLS)
def test_tied_gradients_match_finite_differences(cell):
    """--tie (embed == hidden): "output.W" is no parameter of its own, the output layer
    reads embed.W transposed, and embed.W's gradient (against central differences)
    includes the output layer's contribution."""
    model = make_model(cell, layers=2, embed=4, hidden=4, tie=True)
    assert "output.W" not in model.params and "output.W" not in model.grads
    assert sum(p.size for p in model.params.values()) == model.flat_params.size
    assert np.shares_memory(model.output.params["W"], model.params["embed.W"])
    assert np.shares_memory(model.output.grads["W"], model.grads["embed.W"])
    check_gradients(model)

    # The output layer's share of the gradient is not zero: with the embedding's own
    # contribution taken out, embed.W still has a gradient.
    ids = np.random.default_rng(3).integers(0, V, size=(B, T + 1))
    model.reset_state()
    model.zero_grad()
    model.forward(ids[:, :-1], ids[:, 1:])
    model.backward()
    untied = make_model(cell, layers=2, embed=4, hidden=4)
    for name, p in model.params.items():
        untied.params[name][...] = p
    untied.params["output.W"][...] = model.params["embed.W"].T
    untied.zero_grad()
    untied.forward(ids[:, :-1], ids[:, 1:])
    untied.backward()
    assert_close(
        model.grads["embed.W"],
        untied.grads["embed.W"] + untied.grads["output.W"].T,
        rtol=1e-10,
        atol=1e-14,
    )


def test_tie_needs_equal_embed_and_hidden():
    with pytest.raises(ElmanError, match="set --embed 4 or drop --tie"):
        LanguageModelConfig(vocab_size=V, embed=3, hidden=4, tie=True)


def test_a_language_model_has_no_bidirectional_setting():
    """Reading the text backwards is an encoder's setting (``EncoderConfig``): a language
    model predicts each token from the ones before it, and its config cannot say otherwise."""
    with pytest.raises(TypeError, match="bidirectional"):
        LanguageModelConfig(vocab_size=V, embed=3, hidden=4, bidirectional=True)
    with pytest.raises(TypeError, match="bidirectional"):
        LanguageModel(EncoderConfig(vocab_size=V, embed=3, hidden=4, bidirectional=True))


# PyTorch on identical weights.


def torch_reference(torch, cell, D, H, layers, tie):
    """nn.Embedding -> nn.RNN/LSTM/GRU (batch_first) -> nn.Linear, the decoder sharing the
    embedding's weight when tied."""
    recurrent = {
        "rnn": lambda: torch.nn.RNN(D, H, layers, nonlinearity="tanh", batch_first=True),
        "rnn-relu": lambda: torch.nn.RNN(D, H, layers, nonlinearity="relu", batch_first=True),
        "lstm": lambda: torch.nn.LSTM(D, H, layers, batch_first=True),
        "gru": lambda: torch.nn.GRU(D, H, layers, batch_first=True),
    }[cell]

    class Reference(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(V, D)
            self.rnn = recurrent()
            self.output = torch.nn.Linear(H, V)
            if tie:
                self.output.weight = self.embed.weight

        def forward(self, x, state):
            out, state = self.rnn(self.embed(x), state)
            return self.output(out), state

    return Reference()


@pytest.mark.parametrize(("cell", "tie"), [*((cell, False) for cell in CELLS), ("lstm", True)])
def test_matches_torch_over_two_chunks_with_carried_state(cell, tie, gemm):
    """nn.Embedding -> nn.RNN(tanh/relu)/nn.LSTM/nn.GRU (2 layers) -> nn.Linear ->
    cross_entropy on the same weights (decoder.weight = embedding.weight when tied): the
    loss, every gradient and the carried states agree to float32 tolerance over two
    consecutive TBPTT chunks, torch's state detached between them; with numpy's products
    and MKL's."""
    torch = pytest.importorskip("torch")
    D, H, L, Bt, Tt = (6, 6, 2, 3, 4) if tie else (5, 6, 2, 3, 4)
    model = make_model(cell, layers=L, embed=D, hidden=H, dtype=np.float32, seed=4, tie=tie)
    model.use_gemm(gemm)
    model.flat_params *= 2  # larger weights: relu units that switch, saturating gates
    ref = torch_reference(torch, cell, D, H, L, tie)
    load_into(torch, ref, model.params)

    ids = np.random.default_rng(5).integers(0, V, size=(Bt, 2 * Tt + 1))
    zeros = torch.zeros(L, Bt, H)
    state = (zeros, zeros.clone()) if cell == "lstm" else zeros
    for chunk in range(2):
        x = ids[:, chunk * Tt : (chunk + 1) * Tt]
        y = ids[:, chunk * Tt + 1 : (chunk + 1) * Tt + 1]
        ref.zero_grad()
        # detach: truncated BPTT stops the gradient at the chunk boundary
        state = tuple(s.detach() for s in state) if cell == "lstm" else state.detach()
        logits, state = ref(torch.from_numpy(x), state)
        t_loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, V), torch.from_numpy(y).reshape(-1)
        )
        t_loss.backward()

        model.zero_grad()
        loss = model.forward(x, y)
        model.backward()
        assert loss == pytest.approx(t_loss.item(), rel=1e-5)
        for name, expected in grads_from(ref, model.params).items():
            assert_close(model.grads[name], expected, rtol=1e-3, atol=1e-6)
        for k in range(L):
            if cell == "lstm":
                for ours, theirs in zip(model.state[k], state, strict=True):
                    assert_close(ours, theirs[k].detach().numpy(), rtol=1e-4, atol=1e-6)
            else:
                assert_close(model.state[k], state[k].detach().numpy(), rtol=1e-4, atol=1e-6)


# Initialisation and parameter names.


@pytest.mark.parametrize(
    ("cell", "gates", "biases"),
    [("rnn", 1, ["b"]), ("rnn-relu", 1, ["b"]), ("lstm", 4, ["b"]), ("gru", 3, ["b_x", "b_h"])],
)
def test_parameter_names_and_shapes(cell, gates, biases):
    """Names and shapes per cell, against the layout in the layers' docstrings:
    lstm W_x (D, 4H), gru b_x and b_h (3H,)."""
    D, H = 3, 4
    model = LanguageModel(LanguageModelConfig(vocab_size=V, embed=D, hidden=H, cell=cell, layers=2))
    expected = {"embed.W": (V, D), "output.W": (H, V), "output.b": (V,)}
    for k, size in enumerate([D, H]):
        expected[f"rnn.{k}.W_x"] = (size, gates * H)
        expected[f"rnn.{k}.W_h"] = (H, gates * H)
        for b in biases:
            expected[f"rnn.{k}.{b}"] = (gates * H,)
    assert {name: p.shape for name, p in model.params.items()} == expected
    assert {name: g.shape for name, g in model.grads.items()} == expected
    if cell.startswith("rnn"):
        expected_nonlinearity = "relu" if cell == "rnn-relu" else "tanh"
        assert [rnn.nonlinearity for rnn in model.rnns] == [expected_nonlinearity] * 2


@pytest.mark.parametrize("cell", CELLS)
def test_biases_start_at_zero_except_the_lstm_forget_gate(cell):
    """LSTM b = [i | f | g | o] is [0 | 1 | 0 | 0] in every layer (Gers et al. 2000);
    every other bias is zero."""
    H = 4
    model = LanguageModel(LanguageModelConfig(vocab_size=V, embed=3, hidden=H, cell=cell, layers=2))
    assert np.all(model.params["output.b"] == 0)
    for k in range(2):
        if cell == "lstm":
            expected = np.concatenate([np.zeros(H), np.ones(H), np.zeros(2 * H)])
            assert np.array_equal(model.params[f"rnn.{k}.b"], expected)
        elif cell == "gru":
            assert np.all(model.params[f"rnn.{k}.b_x"] == 0)
            assert np.all(model.params[f"rnn.{k}.b_h"] == 0)
        else:
            assert np.all(model.params[f"rnn.{k}.b"] == 0)


@pytest.mark.parametrize("cell", CELLS)
def test_same_seed_same_weights(cell):
    """Two models with one seed are equal parameter for parameter; another seed differs;
    dropout settings (their own random stream) do not change the weights."""
    config = LanguageModelConfig(vocab_size=V, embed=3, hidden=4, cell=cell, layers=2)
    a, b = LanguageModel(config, seed=7), LanguageModel(config, seed=7)
    assert np.array_equal(a.flat_params, b.flat_params)
    assert not np.array_equal(a.flat_params, LanguageModel(config, seed=8).flat_params)
    dropped = LanguageModelConfig(vocab_size=V, embed=3, hidden=4, cell=cell, layers=2, dropout=0.5)
    assert np.array_equal(a.flat_params, LanguageModel(dropped, seed=7).flat_params)


# Dropout in training and evaluation; generation steps.


@pytest.mark.parametrize("kind", ["standard", "locked"])
@pytest.mark.parametrize("cell", CELLS)
def test_dropout_is_off_in_evaluation(cell, kind):
    """Dropout 0.5 with ``training = False`` gives the logits of a dropout-0 model with the
    same weights, every time, on the training path as on the pure one (``logits``); in
    training two forwards differ."""
    ids = np.random.default_rng(6).integers(0, V, size=(B, T))
    model = make_model(cell, layers=2, dropout=0.5, dropout_kind=kind)
    plain = make_model(cell, layers=2)
    plain.flat_params[...] = model.flat_params

    def training_path_logits():
        model.reset_state()
        return model.output.forward(model.hidden_states(ids))

    expected, _ = plain.logits(ids)
    model.training = False
    for _ in range(2):
        assert np.array_equal(model.logits(ids)[0], expected)
        assert np.array_equal(training_path_logits(), expected)

    model.training = True
    first = training_path_logits()
    second = training_path_logits()
    assert not np.allclose(first, second)
    assert not np.allclose(first, expected)


@pytest.mark.parametrize("cell", CELLS)
def test_step_equals_logits_one_token_at_a_time(cell):
    """Two layers: model.step fed one token at a time from initial_state gives the logits
    of one model.logits call over the sequence, and the same final states."""
    model = make_model(cell, layers=2)
    model.flat_params *= 2
    ids = np.random.default_rng(7).integers(0, V, size=(3, 6))
    expected, final = model.logits(ids)
    state = model.initial_state(3)
    for t in range(ids.shape[1]):
        logits, state = model.step(ids[:, t], state)
        assert_close(logits, expected[:, t], rtol=1e-12, atol=1e-14)
    for ours, carried in zip(state, final, strict=True):
        if cell == "lstm":
            for a, b in zip(ours, carried, strict=True):
                assert_close(a, b, rtol=1e-12, atol=1e-14)
        else:
            assert_close(ours, carried, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("cell", CELLS)
def test_reset_state_of_some_rows_restarts_only_those_streams(cell):
    """Two layers, three streams: after ``reset_state(rows)`` the next chunk gives, in the
    rows marked, the logits of a model that reads the chunk from a zero state, and in
    the others those of one that carries its state on."""
    model = make_model(cell, layers=2)
    model.flat_params *= 2
    ids = np.random.default_rng(8).integers(0, V, size=(3, 2 * T))
    first, second = ids[:, :T], ids[:, T:]
    model.hidden_states(first)  # the training path carries its state to the next chunk
    expected_carried, _ = model.logits(second, model.state)
    expected_cold, _ = model.logits(second)  # from a zero state in every stream

    rows = np.array([True, False, True])
    model.reset_state(rows)
    logits, _ = model.logits(second, model.state)
    assert_close(logits[rows], expected_cold[rows], rtol=1e-12, atol=1e-14)
    assert_close(logits[~rows], expected_carried[~rows], rtol=1e-12, atol=1e-14)
    assert not np.allclose(expected_cold[~rows], expected_carried[~rows])  # the state matters


@pytest.mark.parametrize("cell", CELLS)
def test_reset_state_of_rows_keeps_a_zero_state_zero(cell):
    """With nothing carried (None: zeros), restarting some rows leaves it None."""
    model = make_model(cell, layers=2)
    model.reset_state(np.array([True, False]))
    assert model.state == [None, None]
