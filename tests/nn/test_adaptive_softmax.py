"""Adaptive softmax: central finite differences in float64, the full distribution it
defines (normalised, and the loss is -log of it at the targets, masked as
SoftmaxCrossEntropy masks), PyTorch's AdaptiveLogSoftmaxWithLoss on identical weights,
and the training cost: a tail cluster is computed only for the rows that target it."""

import numpy as np
import pytest

from elman.nn import AdaptiveSoftmax, SoftmaxCrossEntropy
from elman.nn import adaptive_softmax as adaptive_module
from elman.nn import init as nninit
from tests.numeric import assert_close, numerical_gradient
from tests.torch_reference import grads_from, load_into

H, V, CUTOFFS, DIV = 6, 12, [4, 8], 2.0  # shortlist 0..3, clusters 4..7 and 8..11


def make_layer(hidden=H, vocab=V, cutoffs=CUTOFFS, div_value=DIV, dtype=np.float64, seed=0):
    """Weights U(-1, 1) and a random head bias: large enough for peaked softmaxes."""
    rng = np.random.default_rng(seed)
    layer = nninit.adaptive_softmax(rng, hidden, vocab, cutoffs, div_value, scale=1.0)
    layer.params["head.b"] += rng.normal(0, 0.5, layer.params["head.b"].shape)
    for name in list(layer.params):
        layer.params[name] = layer.params[name].astype(dtype)
        layer.grads[name] = np.zeros_like(layer.params[name])
    return layer


def targets_in_every_part(shape, seed=1):
    """Random ids over V with at least one in the shortlist and in each cluster."""
    t = np.random.default_rng(seed).integers(0, V, size=shape).reshape(-1)
    t[:3] = [1, 5, 10]
    return t.reshape(shape)


MASK = np.array([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0]], bool)


def test_parameter_names_and_shapes_follow_torch_formulation():
    """head (H, shortlist + clusters) with a bias; tail k: H -> H // div^(k+1) -> |C_k|."""
    layer = make_layer(hidden=16, vocab=30, cutoffs=[5, 12, 20], div_value=2.0)
    shapes = {name: p.shape for name, p in layer.params.items()}
    assert shapes == {
        "head.W": (16, 8),
        "head.b": (8,),
        "tail.0.proj": (16, 8),
        "tail.0.out": (8, 7),
        "tail.1.proj": (16, 4),
        "tail.1.out": (4, 8),
        "tail.2.proj": (16, 2),
        "tail.2.out": (2, 10),
    }
    assert layer.grads.keys() == layer.params.keys()
    assert (layer.shortlist, layer.clusters, layer.vocab_size) == (5, 3, 30)


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("shape", [(2, 5), (10,)])
def test_gradients_match_finite_differences(shape, masked):
    """Every parameter and the input, float64, (B, T, H) and (N, H), with and without
    padding; backward run twice adds twice (gradients accumulate)."""
    layer = make_layer()
    rng = np.random.default_rng(2)
    h = rng.normal(size=(*shape, H))
    t = targets_in_every_part(shape)
    mask = MASK.reshape(shape) if masked else None

    def loss():
        return layer.forward(h, t, mask)

    loss()
    dh = layer.backward()
    assert dh.shape == h.shape
    assert_close(dh, numerical_gradient(loss, h), rtol=1e-6, atol=1e-9)
    if masked:
        assert np.all(dh[~mask] == 0)
    for name, grad in layer.grads.items():
        expected = numerical_gradient(loss, layer.params[name])
        assert np.abs(expected).max() > 0, f"{name} does not affect the loss"
        assert_close(grad, expected, rtol=1e-6, atol=1e-9)

    once = {name: g.copy() for name, g in layer.grads.items()}
    loss()
    layer.backward()
    for name, grad in layer.grads.items():
        assert_close(grad, 2 * once[name], rtol=1e-12, atol=1e-15)


def test_backward_scales_with_dout():
    layer = make_layer()
    h = np.random.default_rng(3).normal(size=(10, H))
    t = targets_in_every_part((10,))
    layer.forward(h, t)
    dh = layer.backward()
    layer.forward(h, t)
    assert_close(layer.backward(0.5), 0.5 * dh, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_prob_is_a_distribution_and_the_loss_is_minus_log_prob_at_the_targets(dtype):
    """log_prob rows have logsumexp 0; forward's total, count and mean are those of
    SoftmaxCrossEntropy fed the log-probabilities (exact, mask and mean included);
    everything is computed in the parameters' dtype."""
    layer = make_layer(dtype=dtype)
    h = np.random.default_rng(4).normal(size=(2, 5, H)).astype(dtype)
    t = targets_in_every_part((2, 5))
    logp = layer.log_prob(h)
    assert logp.shape == (2, 5, V) and logp.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    lse = np.log(np.exp(logp.astype(np.float64)).sum(axis=-1))
    assert_close(lse, np.zeros((2, 5)), atol=tol)
    assert_close(layer.log_prob(h.reshape(10, H)), logp.reshape(10, V), rtol=tol)

    for mask in (None, MASK):
        loss = layer.forward(h, t, mask)
        assert layer.backward().dtype == dtype
        reference = SoftmaxCrossEntropy()
        expected = reference.forward(logp.copy(), t, mask)
        assert loss == pytest.approx(expected, rel=tol)
        assert layer.total == pytest.approx(reference.total, rel=tol)
        assert layer.count == reference.count == (10 if mask is None else 6)
        m = np.ones((2, 5)) if mask is None else mask
        picked = np.take_along_axis(logp, t[..., None], axis=-1)[..., 0]
        assert loss == pytest.approx(-(picked * m).sum() / m.sum(), rel=tol)


def test_a_confident_head_gives_a_loss_near_zero_and_uniform_weights_give_log_v():
    """By hand: all-zero weights make p uniform over the head and within each cluster,
    so a shortlist token costs log(S + K) and a tail token log(S + K) + log |C_k|."""
    layer = make_layer()
    for p in layer.params.values():
        p[...] = 0
    h = np.zeros((3, H))
    assert layer.forward(h, np.array([0, 5, 11])) == pytest.approx(np.log(6) + (2 / 3) * np.log(4))
    layer.params["head.b"][2] = 100.0
    assert layer.forward(h, np.array([2])) == pytest.approx(0.0, abs=1e-12)


def test_padding_changes_neither_loss_nor_gradient():
    """Masked positions may hold anything (here huge inputs and tail targets): the loss
    and the gradients are those of the real positions alone."""
    rng = np.random.default_rng(5)
    h = rng.normal(size=(1, 3, H))
    t = np.array([[1, 9, 6]])
    short, padded = make_layer(), make_layer()
    loss = short.forward(h[:, :2], t[:, :2])
    short.backward()
    h_pad = h.copy()
    h_pad[0, 2] = 1e3
    assert padded.forward(h_pad, t, np.array([[True, True, False]])) == pytest.approx(loss)
    assert np.all(padded.backward()[0, 2] == 0)
    for name, grad in padded.grads.items():
        assert_close(grad, short.grads[name], rtol=1e-12, atol=1e-15)


# The training cost: only the rows targeting a cluster compute it.


def test_a_batch_of_shortlist_targets_never_touches_the_tail():
    """Targets all in the shortlist: the tail weights are not read (NaN there changes
    nothing) and their gradients stay exactly zero."""
    layer = make_layer()
    for k in range(2):
        layer.params[f"tail.{k}.proj"][...] = np.nan
        layer.params[f"tail.{k}.out"][...] = np.nan
    h = np.random.default_rng(6).normal(size=(4, H))
    loss = layer.forward(h, np.array([0, 3, 2, 3]))
    dh = layer.backward()
    assert np.isfinite(loss) and np.all(np.isfinite(dh))
    assert np.abs(layer.grads["head.W"]).max() > 0
    for k in range(2):
        assert np.all(layer.grads[f"tail.{k}.proj"] == 0)
        assert np.all(layer.grads[f"tail.{k}.out"] == 0)


class Recorded(np.ndarray):
    """An array that records the operand shapes of every matrix product it takes part in."""

    products: list

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if ufunc is np.matmul:
            Recorded.products.append(tuple(x.shape for x in inputs))
        inputs = tuple(x.view(np.ndarray) if isinstance(x, Recorded) else x for x in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)


def test_each_cluster_is_computed_for_its_own_rows_only(monkeypatch):
    """Forward and backward: every product with cluster k's weights has n_k rows (the
    targets in C_k), never N; the softmaxes are the head's over N rows and each cluster's
    over its n_k; a cluster no target falls in is skipped and its gradients stay zero."""
    softmaxes = []

    def spy(z):
        softmaxes.append(z.shape)
        return log_softmax(z)

    log_softmax = adaptive_module.log_softmax
    monkeypatch.setattr(adaptive_module, "log_softmax", spy)
    layer = make_layer()
    N = 23
    t = np.random.default_rng(7).integers(0, 4, size=N)  # the shortlist, but for
    t[[3, 8, 20]] = [9, 11, 10]  # 3 rows in C_1 and none in C_0
    for k in range(2):
        for name in (f"tail.{k}.proj", f"tail.{k}.out"):
            layer.params[name] = layer.params[name].view(Recorded)
    Recorded.products = []
    layer.forward(np.random.default_rng(8).normal(size=(N, H)), t)
    layer.backward()

    assert softmaxes == [(N, 6), (3, 4)]
    # forward: (3, H) @ P_1, (3, h_1) @ Q_1; backward: du (3, |C_1|) @ Q_1.T, (3, h_1) @ P_1.T
    assert Recorded.products == [
        ((3, 6), (6, 1)),
        ((3, 1), (1, 4)),
        ((3, 4), (4, 1)),
        ((3, 1), (1, 6)),
    ]
    assert np.all(layer.grads["tail.0.proj"] == 0) and np.all(layer.grads["tail.0.out"] == 0)
    assert np.abs(layer.grads["tail.1.out"]).max() > 0


def test_inconsistent_shapes_are_refused():
    layer = make_layer()
    W, b = layer.params["head.W"], layer.params["head.b"]
    tail = [(layer.params[f"tail.{k}.proj"], layer.params[f"tail.{k}.out"]) for k in range(2)]
    with pytest.raises(ValueError, match="expected head.W of shape"):
        AdaptiveSoftmax(W, b, tail, [5, 8])
    with pytest.raises(ValueError, match="one tail cluster per cutoff"):
        AdaptiveSoftmax(W, b, tail[:1], CUTOFFS)
    with pytest.raises(ValueError, match="tail cluster 0"):
        AdaptiveSoftmax(W, b, [(tail[0][0], tail[1][1]), tail[1]], CUTOFFS)
    with pytest.raises(ValueError, match="head.b"):
        AdaptiveSoftmax(W, b[:-1], tail, CUTOFFS)


# PyTorch on identical weights.


def torch_copy(torch, layer, hidden, vocab, cutoffs, div_value):
    """AdaptiveLogSoftmaxWithLoss(head_bias=True) holding the layer's weights (a model's
    "output.head.W" ... through ``elman.torch_names``), and those names."""
    ref = torch.nn.AdaptiveLogSoftmaxWithLoss(
        hidden, vocab, cutoffs, div_value=div_value, head_bias=True
    )
    params = {f"output.{name}": value for name, value in layer.params.items()}
    load_into(torch, ref, params, prefix="output.")
    return ref, params


@pytest.mark.parametrize("masked", [False, True])
def test_matches_torch(masked):
    """AdaptiveLogSoftmaxWithLoss(16, 50, [10, 30], div_value=2, head_bias=True), float32,
    same weights: the loss, the log-probabilities of the targets and log_prob(), the
    gradient of every weight and of the input. With padding, torch gets the real
    rows only."""
    torch = pytest.importorskip("torch")
    hidden, vocab, cutoffs, div_value = 16, 50, [10, 30], 2.0
    layer = make_layer(hidden, vocab, cutoffs, div_value, dtype=np.float32, seed=8)
    ref, names = torch_copy(torch, layer, hidden, vocab, cutoffs, div_value)
    rng = np.random.default_rng(9)
    h = rng.normal(size=(3, 7, hidden)).astype(np.float32)
    t = rng.integers(0, vocab, size=(3, 7))
    t[0, :3] = [2, 15, 40]
    mask = rng.random((3, 7)) < 0.7 if masked else np.ones((3, 7), bool)
    mask[0, :3] = True

    th = torch.from_numpy(h[mask]).requires_grad_()  # (N real, H)
    result = ref(th, torch.from_numpy(t[mask]))
    result.loss.backward()

    loss = layer.forward(h, t, mask if masked else None)
    dh = layer.backward()
    assert loss == pytest.approx(result.loss.item(), rel=1e-5)
    logp = layer.log_prob(h)
    picked = np.take_along_axis(logp, t[..., None], axis=-1)[..., 0]
    assert_close(picked[mask], result.output.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert_close(logp[mask], ref.log_prob(th).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert_close(dh[mask], th.grad.numpy(), rtol=1e-4, atol=1e-7)
    assert np.all(dh[~mask] == 0)
    for name, expected in grads_from(ref, names, prefix="output.").items():
        assert_close(layer.grads[name.removeprefix("output.")], expected, rtol=1e-4, atol=1e-7)
