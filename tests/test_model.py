"""The whole language model: finite differences, PyTorch on identical weights, state carry."""

import numpy as np
import pytest

from elman.config import ModelConfig
from elman.model import LanguageModel
from tests.numeric import assert_close, numerical_gradient


def small_model(layers=1, dtype=np.float64, V=7, seed=0):
    return LanguageModel(
        ModelConfig(vocab_size=V, embed=3, hidden=4, layers=layers), seed=seed, dtype=dtype
    )


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("masked", [False, True])
def test_gradients_match_finite_differences(layers, masked):
    """Every parameter, through the loss, over a chunk that starts from a carried state."""
    rng = np.random.default_rng(0)
    model = small_model(layers)
    ids = rng.integers(0, 7, size=(2, 6))
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool) if masked else None
    model.forward(ids[:, :3], ids[:, 1:4])
    carried = model.state

    def loss():
        model.state = carried
        return model.forward(ids[:, :-1], ids[:, 1:], mask)

    model.zero_grad()
    loss()
    model.backward()
    for name, grad in model.grads.items():
        assert_close(grad, numerical_gradient(loss, model.params[name]), rtol=1e-5, atol=1e-8)


def test_parameters_are_views_of_one_flat_buffer():
    model = small_model(layers=2)
    assert sum(p.size for p in model.params.values()) == model.flat_params.size
    model.flat_params[:] = 0
    assert all(np.all(p == 0) for p in model.params.values())
    assert model.rnns[1].params["W_h"] is model.params["rnn.1.W_h"]


def test_initialisation_is_seeded_and_float32_by_default():
    a, b = (
        LanguageModel(ModelConfig(vocab_size=5), seed=3),
        LanguageModel(ModelConfig(vocab_size=5), seed=3),
    )
    assert a.dtype == np.float32
    assert np.array_equal(a.flat_params, b.flat_params)
    W_h = a.params["rnn.0.W_h"].astype(np.float64)
    assert_close(W_h @ W_h.T, np.eye(W_h.shape[0]), atol=1e-5)  # orthogonal


def test_zero_output_weights_give_perplexity_equal_to_vocabulary_size():
    model = small_model(V=11)
    model.params["output.W"][...] = 0
    ids = np.random.default_rng(1).integers(0, 11, size=(3, 9))
    assert np.exp(model.forward(ids[:, :-1], ids[:, 1:])) == pytest.approx(11)


def test_chunked_forward_equals_one_long_forward():
    rng = np.random.default_rng(2)
    model = small_model(layers=2)
    ids = rng.integers(0, 7, size=(3, 10))
    whole = model.logits(ids).copy()
    model.reset_state()
    chunks = [model.logits(ids[:, i : i + 4]).copy() for i in range(0, 10, 4)]
    assert_close(np.concatenate(chunks, axis=1), whole, rtol=1e-12)


def test_step_equals_logits_one_token_at_a_time():
    rng = np.random.default_rng(3)
    model = small_model(layers=2)
    ids = rng.integers(0, 7, size=(2, 5))
    expected = model.logits(ids)
    state = model.initial_state(2)
    for t in range(5):
        logits, state = model.step(ids[:, t], state)
        assert_close(logits, expected[:, t], rtol=1e-12)


def test_matches_torch_over_two_chunks_with_carried_state():
    """nn.Embedding -> nn.RNN(tanh) -> nn.Linear -> cross_entropy on the same weights:
    loss and every gradient agree to float32 tolerance on two consecutive TBPTT chunks,
    the second starting from the first's final state with the gradient stopped there."""
    torch = pytest.importorskip("torch")
    V, D, H, L, B, T = 13, 5, 6, 2, 3, 4
    model = LanguageModel(ModelConfig(vocab_size=V, embed=D, hidden=H, layers=L), seed=4)

    class Reference(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(V, D)
            self.rnn = torch.nn.RNN(D, H, num_layers=L, nonlinearity="tanh", batch_first=True)
            self.output = torch.nn.Linear(H, V)

        def forward(self, x, h):
            out, h = self.rnn(self.embed(x), h)
            return self.output(out), h

    ref = Reference()
    torch_names = {
        "embed.W": ("embed.weight", False),
        "output.W": ("output.weight", True),
        "output.b": ("output.bias", False),
    }
    for i in range(L):
        torch_names[f"rnn.{i}.W_x"] = (f"rnn.weight_ih_l{i}", True)
        torch_names[f"rnn.{i}.W_h"] = (f"rnn.weight_hh_l{i}", True)
        torch_names[f"rnn.{i}.b"] = (f"rnn.bias_ih_l{i}", False)
    tparams = dict(ref.named_parameters())
    with torch.no_grad():
        for name, (tname, transposed) in torch_names.items():
            value = model.params[name].T if transposed else model.params[name]
            tparams[tname].copy_(torch.from_numpy(np.ascontiguousarray(value)))
        for i in range(L):
            tparams[f"rnn.bias_hh_l{i}"].zero_()

    ids = np.random.default_rng(5).integers(0, V, size=(B, 2 * T + 1))
    h = torch.zeros(L, B, H)
    for chunk in range(2):
        x, y = ids[:, chunk * T : (chunk + 1) * T], ids[:, chunk * T + 1 : (chunk + 1) * T + 1]
        ref.zero_grad()
        logits, h = ref(torch.from_numpy(x), h.detach())  # detach: truncated BPTT
        t_loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, V), torch.from_numpy(y).reshape(-1)
        )
        t_loss.backward()

        model.zero_grad()
        loss = model.forward(x, y)
        model.backward()
        assert loss == pytest.approx(t_loss.item(), rel=1e-5)
        for name, (tname, transposed) in torch_names.items():
            expected = tparams[tname].grad.numpy()
            assert_close(
                model.grads[name], expected.T if transposed else expected, rtol=1e-3, atol=1e-6
            )
        for i in range(L):
            assert_close(model.state[i], h[i].detach().numpy(), rtol=1e-4, atol=1e-6)
