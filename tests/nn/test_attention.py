"""Attention (dot, general, additive) over a padded memory against a naive loop over each
sequence cut to its length, central finite differences in float64, its own single-step
form, and PyTorch autograd (the same equations in torch ops, and torch's
scaled_dot_product_attention)."""

import numpy as np
import pytest

from elman.nn import Attention
from elman.nn.attention import SCORES
from elman.nn.init import attention as init_attention
from tests.numeric import assert_close, numerical_gradient

HQ, HM, A = 3, 4, 5
# (B, T, S, lengths): padding in most, B = T = S = 1, a batch whose longest is padded too
SHAPES = [
    (2, 3, 4, [4, 2]),
    (1, 1, 1, [1]),
    (3, 1, 5, [5, 1, 3]),
    (1, 4, 3, [2]),
    (2, 2, 3, [1, 1]),
]


def query_size(score):
    return HM if score == "dot" else HQ


def make_attention(score, rng, dtype=np.float64):
    if score == "dot":
        return Attention("dot")
    if score == "general":
        return Attention("general", W_a=rng.normal(0, 0.5, (HQ, HM)).astype(dtype))
    return Attention(
        "additive",
        W_q=rng.normal(0, 0.5, (HQ, A)).astype(dtype),
        W_k=rng.normal(0, 0.5, (HM, A)).astype(dtype),
        v=rng.normal(0, 1, A).astype(dtype),
    )


def make_inputs(score, rng, B, T, S, dtype=np.float64):
    queries = rng.normal(size=(B, T, query_size(score))).astype(dtype)
    memory = rng.normal(size=(B, S, HM)).astype(dtype)
    return queries, memory


def naive_forward(att, queries, memory, lengths):
    """One query and one sequence at a time, each sequence cut to its length (no mask),
    every score straight from the equations in the docstring."""
    p = att.params
    B, T, _ = queries.shape
    S = memory.shape[1]
    contexts = np.zeros((B, T, HM))
    weights = np.zeros((B, T, S))
    for b in range(B):
        m = memory[b, : lengths[b]]
        for t in range(T):
            q = queries[b, t]
            if att.score == "dot":
                e = np.array([q @ m_s for m_s in m])
            elif att.score == "general":
                e = np.array([q @ p["W_a"] @ m_s for m_s in m])
            else:
                e = np.array([p["v"] @ np.tanh(q @ p["W_q"] + m_s @ p["W_k"]) for m_s in m])
            a = np.exp(e - e.max())
            a /= a.sum()
            weights[b, t, : lengths[b]] = a
            contexts[b, t] = a @ m
    return contexts, weights


@pytest.mark.parametrize(("B", "T", "S", "lengths"), SHAPES)
@pytest.mark.parametrize("score", SCORES)
def test_forward_matches_each_sequence_alone(score, B, T, S, lengths):
    """Against the naive loop; the weights of the padding are exactly 0, those of the
    real steps sum to 1."""
    rng = np.random.default_rng(0)
    att = make_attention(score, rng)
    queries, memory = make_inputs(score, rng, B, T, S)
    expected_contexts, expected_weights = naive_forward(att, queries, memory, lengths)
    contexts = att.forward(queries, memory, np.array(lengths))
    assert contexts.shape == (B, T, HM) and att.weights.shape == (B, T, S)
    assert_close(contexts, expected_contexts, rtol=1e-12)
    assert_close(att.weights, expected_weights, rtol=1e-12)
    for b, n in enumerate(lengths):
        assert np.all(att.weights[b, :, n:] == 0)
        assert_close(att.weights[b, :, :n].sum(axis=-1), np.ones(T), rtol=1e-12)


@pytest.mark.parametrize(("B", "T", "S", "lengths"), SHAPES)
@pytest.mark.parametrize("score", SCORES)
def test_backward_matches_finite_differences(score, B, T, S, lengths):
    """dqueries, dmemory and every parameter's gradient; dmemory is exactly 0 at the padding."""
    rng = np.random.default_rng(1)
    att = make_attention(score, rng)
    queries, memory = make_inputs(score, rng, B, T, S)
    lengths = np.array(lengths)
    G = rng.normal(size=(B, T, HM))

    def loss():
        return float((att.forward(queries, memory, lengths) * G).sum())

    loss()
    dqueries, dmemory = att.backward(G)
    assert_close(dqueries, numerical_gradient(loss, queries))
    assert_close(dmemory, numerical_gradient(loss, memory))
    assert set(att.grads) == set(att.params)
    for name in att.params:
        assert_close(att.grads[name], numerical_gradient(loss, att.params[name]))
    for b, n in enumerate(lengths):
        assert not dmemory[b, n:].any()


@pytest.mark.parametrize("score", SCORES)
def test_padding_changes_neither_outputs_nor_gradients(score):
    """Large values in the padded memory steps (scores of 1e3 or more before masking)
    leave contexts, weights, dqueries, the real steps' dmemory and the parameter gradients
    as they were."""
    rng = np.random.default_rng(2)
    att = make_attention(score, rng)
    B, T, S, lengths = 3, 4, 6, np.array([6, 2, 4])
    queries, memory = make_inputs(score, rng, B, T, S)
    G = rng.normal(size=(B, T, HM))

    def run(memory):
        for g in att.grads.values():
            g[...] = 0
        contexts = att.forward(queries, memory, lengths).copy()
        dqueries, dmemory = att.backward(G)
        return (
            contexts,
            att.weights.copy(),
            dqueries,
            dmemory,
            {k: g.copy() for k, g in att.grads.items()},
        )

    clean = run(np.where((np.arange(S) < lengths[:, None])[..., None], memory, 0.0))
    garbage = memory.copy()
    for b, n in enumerate(lengths):
        garbage[b, n:] = 1e3 * rng.normal(size=(S - n, HM))
    padded = run(garbage)
    for expected, actual in zip(clean[:3], padded[:3], strict=True):
        assert_close(actual, expected, rtol=1e-12)
    for b, n in enumerate(lengths):
        assert np.all(padded[1][b, :, n:] == 0)
        assert_close(padded[3][b, :n], clean[3][b, :n], rtol=1e-12)
        assert not padded[3][b, n:].any()
    for name in att.params:
        assert_close(padded[4][name], clean[4][name], rtol=1e-12)


@pytest.mark.parametrize("precomputed", [False, True])
@pytest.mark.parametrize("score", SCORES)
def test_step_equals_forward_row_by_row(score, precomputed):
    """step() one query at a time, with or without project_memory's keys, gives forward's
    contexts and weights; it caches nothing, so forward's weights and backward stay."""
    rng = np.random.default_rng(3)
    att = make_attention(score, rng)
    B, T, S, lengths = 3, 4, 5, np.array([5, 1, 3])
    queries, memory = make_inputs(score, rng, B, T, S)
    contexts = att.forward(queries, memory, lengths).copy()
    weights, cache = att.weights, att.cache
    kept = weights.copy()
    keys = att.project_memory(memory) if precomputed else None
    for t in range(T):
        context, w = att.step(queries[:, t], memory, lengths, keys=keys)
        assert context.shape == (B, HM) and w.shape == (B, S)
        assert_close(context, contexts[:, t], rtol=1e-12)
        assert_close(w, kept[:, t], rtol=1e-12)
    assert att.weights is weights and att.cache is cache
    assert np.array_equal(weights, kept)


@pytest.mark.parametrize("score", SCORES)
def test_apply_equals_forward_and_caches_nothing(score):
    """The pure sequence form, with or without precomputed keys, gives forward's contexts
    and weights and leaves forward's cache and weights as they were."""
    rng = np.random.default_rng(13)
    att = make_attention(score, rng)
    queries, memory = make_inputs(score, rng, 3, 4, 5)
    lengths = np.array([5, 1, 3])
    contexts = att.forward(queries, memory, lengths).copy()
    weights, cache = att.weights, att.cache
    for keys in (None, att.project_memory(memory[:2])):
        applied, applied_weights = att.apply(queries[:2], memory[:2], lengths[:2], keys)
        assert_close(applied, contexts[:2], rtol=1e-12)
        assert_close(applied_weights, weights[:2], rtol=1e-12)
    assert att.weights is weights and att.cache is cache


@pytest.mark.parametrize("score", SCORES)
def test_project_memory_gives_the_keys_the_score_reads(score):
    """k_s = m_s (dot), m_s W_a^T (general), m_s W_k (additive), one per memory step."""
    rng = np.random.default_rng(4)
    att = make_attention(score, rng)
    memory = rng.normal(size=(2, 3, HM))
    keys = att.project_memory(memory)
    expected = {
        "dot": lambda: memory,
        "general": lambda: memory @ att.params["W_a"].T,
        "additive": lambda: memory @ att.params["W_k"],
    }[score]()
    assert_close(keys, expected, rtol=1e-12)


@pytest.mark.parametrize("score", SCORES)
def test_backward_accumulates(score):
    rng = np.random.default_rng(5)
    att = make_attention(score, rng)
    queries, memory = make_inputs(score, rng, 2, 3, 4)
    lengths, G = np.array([4, 2]), rng.normal(size=(2, 3, HM))
    att.forward(queries, memory, lengths)
    att.backward(G)
    once = {k: g.copy() for k, g in att.grads.items()}
    att.forward(queries, memory, lengths)
    att.backward(G)
    for k in once:
        assert_close(att.grads[k], 2 * once[k])


@pytest.mark.parametrize("score", SCORES)
def test_float32_stays_float32(score):
    rng = np.random.default_rng(6)
    att = make_attention(score, rng, dtype=np.float32)
    queries, memory = make_inputs(score, rng, 2, 3, 4, dtype=np.float32)
    lengths = np.array([4, 2])
    contexts = att.forward(queries, memory, lengths)
    dqueries, dmemory = att.backward(np.ones_like(contexts))
    context, weights = att.step(queries[:, 0], memory, lengths, att.project_memory(memory))
    arrays = (contexts, att.weights, dqueries, dmemory, context, weights, *att.grads.values())
    assert {a.dtype for a in arrays} == {np.dtype(np.float32)}


@pytest.mark.parametrize("score", SCORES)
def test_huge_scores_raise_no_warnings(score):
    """Scores in the thousands (float32) neither overflow nor give NaN: the softmax is shifted
    by its maximum, and -inf at the padding becomes exactly 0."""
    rng = np.random.default_rng(7)
    att = make_attention(score, rng, dtype=np.float32)
    if score == "additive":
        att.params["v"] *= 1000
    queries, memory = make_inputs(score, rng, 2, 3, 4, dtype=np.float32)
    queries *= 30
    memory *= 30
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        contexts = att.forward(queries, memory, np.array([4, 2]))
        dqueries, dmemory = att.backward(np.ones_like(contexts))
    for a in (contexts, att.weights, dqueries, dmemory, *att.grads.values()):
        assert np.all(np.isfinite(a))
    assert att.weights.max() > 0.99  # saturated: nearly one-hot


def test_errors_name_the_expected_shape():
    rng = np.random.default_rng(8)
    with pytest.raises(ValueError, match="score must be one of"):
        Attention("cosine")
    with pytest.raises(ValueError, match=r"expected the parameters \['W_a'\]"):
        Attention("general")
    with pytest.raises(ValueError, match=r"expected the parameters \[\] for the 'dot' score"):
        Attention("dot", W_a=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="one attention size A"):
        Attention("additive", W_q=np.zeros((3, 5)), W_k=np.zeros((4, 6)), v=np.zeros(5))
    with pytest.raises(ValueError, match=r"expected W_a of shape \(Hq, Hm\)"):
        Attention("general", W_a=np.zeros(4))

    general = make_attention("general", rng)
    lengths = np.array([3, 2])
    memory = np.zeros((2, 3, HM))
    with pytest.raises(ValueError, match=r"expected queries of shape \(B, T, Hq\) = \(2, T, 3\)"):
        general.forward(np.zeros((2, 5, 4)), memory, lengths)
    with pytest.raises(ValueError, match=r"expected queries .* got \(3, 5, 3\)"):
        general.forward(np.zeros((3, 5, 3)), memory, lengths)
    with pytest.raises(ValueError, match=r"expected memory of shape \(B, S, 4\), got \(2, 3, 5\)"):
        general.forward(np.zeros((2, 5, 3)), np.zeros((2, 3, 5)), lengths)
    with pytest.raises(ValueError, match=r"expected memory of shape \(B, S, Hm\), got \(3, 4\)"):
        general.forward(np.zeros((2, 5, 3)), np.zeros((3, 4)), lengths)
    with pytest.raises(ValueError, match=r"expected lengths in \[1, 3\]"):
        general.forward(np.zeros((2, 5, 3)), memory, np.array([4, 2]))
    with pytest.raises(ValueError, match=r"expected lengths in \[1, 3\]"):
        general.forward(np.zeros((2, 5, 3)), memory, np.array([0, 2]))
    with pytest.raises(ValueError, match=r"expected lengths of shape \(2,\)"):
        general.forward(np.zeros((2, 5, 3)), memory, np.array([3]))
    with pytest.raises(ValueError, match=r"expected a query of shape \(B, Hq\)"):
        general.step(np.zeros((2, 1, 3)), memory, lengths)
    with pytest.raises(ValueError, match=r"expected keys of shape \(2, 3, 3\) from project_memory"):
        general.step(np.zeros((2, 3)), memory, lengths, keys=memory)

    dot = Attention("dot")
    with pytest.raises(ValueError, match=r"expected queries of shape \(B, T, Hq\) = \(2, T, 4\)"):
        dot.forward(np.zeros((2, 5, 3)), memory, lengths)


@pytest.mark.parametrize("score", SCORES)
def test_init_gives_the_documented_shapes_and_ranges(score):
    rng = np.random.default_rng(9)
    att = init_attention(rng, score, query_size(score), HM, attention_size=A)
    expected = {
        "dot": {},
        "general": {"W_a": (HQ, HM)},
        "additive": {"W_q": (HQ, A), "W_k": (HM, A), "v": (A,)},
    }[score]
    assert {k: p.shape for k, p in att.params.items()} == expected
    for name, p in att.params.items():
        fan_in, fan_out = p.shape if p.ndim == 2 else (None, None)
        limit = 0.1 if name == "v" else np.sqrt(6 / (fan_in + fan_out))
        assert np.all(np.abs(p) <= limit) and p.std() > limit / 4
    queries, memory = make_inputs(score, rng, 2, 3, 4)
    assert att.forward(queries, memory, np.array([4, 1])).shape == (2, 3, HM)


def test_init_refuses_sizes_the_score_cannot_take():
    rng = np.random.default_rng(10)
    with pytest.raises(ValueError, match="query size to equal the memory size 4, got 3"):
        init_attention(rng, "dot", 3, 4)
    with pytest.raises(ValueError, match="expected an attention size"):
        init_attention(rng, "additive", 3, 4)
    with pytest.raises(ValueError, match="score must be one of"):
        init_attention(rng, "cosine", 3, 4)


def torch_attention(torch, att, queries, memory, lengths):
    """The same equations in torch ops: padding masked with -inf before torch's softmax."""
    p = {k: torch.from_numpy(v.copy()).requires_grad_() for k, v in att.params.items()}
    if att.score == "dot":
        scores = queries @ memory.transpose(1, 2)
    elif att.score == "general":
        scores = queries @ p["W_a"] @ memory.transpose(1, 2)  # (q W_a) m^T: the other order
    else:
        hidden = (queries @ p["W_q"])[:, :, None, :] + (memory @ p["W_k"])[:, None, :, :]
        scores = torch.tanh(hidden) @ p["v"]
    padding = torch.arange(memory.shape[1])[None, :] >= torch.from_numpy(lengths)[:, None]
    weights = torch.softmax(scores.masked_fill(padding[:, None, :], float("-inf")), dim=-1)
    return weights @ memory, weights, p


TOLERANCES = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-4, atol=1e-5)}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("score", SCORES)
def test_matches_torch(score, dtype):
    """Identical weights and inputs: contexts, weights, dqueries, dmemory and every
    parameter gradient agree with torch autograd."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    att = make_attention(score, rng, dtype=dtype)
    B, T, S, lengths = 3, 4, 6, np.array([6, 1, 4])
    queries, memory = make_inputs(score, rng, B, T, S, dtype=dtype)
    G = rng.normal(size=(B, T, HM)).astype(dtype)

    t_queries = torch.from_numpy(queries.copy()).requires_grad_()
    t_memory = torch.from_numpy(memory.copy()).requires_grad_()
    t_contexts, t_weights, t_params = torch_attention(torch, att, t_queries, t_memory, lengths)
    (t_contexts * torch.from_numpy(G)).sum().backward()

    contexts = att.forward(queries, memory, lengths)
    dqueries, dmemory = att.backward(G)
    tol = TOLERANCES[dtype]
    assert_close(contexts, t_contexts.detach().numpy(), **tol)
    assert_close(att.weights, t_weights.detach().numpy(), **tol)
    assert_close(dqueries, t_queries.grad.numpy(), **tol)
    assert_close(dmemory, t_memory.grad.numpy(), **tol)
    for name, p in t_params.items():
        assert_close(att.grads[name], p.grad.numpy(), **tol)


@pytest.mark.parametrize("score", ["dot", "general"])
def test_dot_and_general_match_torch_scaled_dot_product_attention(score):
    """torch's own attention at scale 1, keys m (dot) or m W_a^T (general), values m and a
    boolean mask of the real steps: contexts and every gradient."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(12)
    att = make_attention(score, rng)
    B, T, S, lengths = 2, 3, 5, np.array([5, 2])
    queries, memory = make_inputs(score, rng, B, T, S)
    G = rng.normal(size=(B, T, HM))

    t_queries = torch.from_numpy(queries.copy()).requires_grad_()
    t_memory = torch.from_numpy(memory.copy()).requires_grad_()
    keys = t_memory
    if score == "general":
        t_W_a = torch.from_numpy(att.params["W_a"].copy()).requires_grad_()
        keys = t_memory @ t_W_a.T
    real = torch.arange(S)[None, None, :] < torch.from_numpy(lengths)[:, None, None]
    t_contexts = F.scaled_dot_product_attention(
        t_queries, keys, t_memory, attn_mask=real, scale=1.0
    )
    (t_contexts * torch.from_numpy(G)).sum().backward()

    contexts = att.forward(queries, memory, lengths)
    dqueries, dmemory = att.backward(G)
    assert_close(contexts, t_contexts.detach().numpy(), rtol=1e-10)
    assert_close(dqueries, t_queries.grad.numpy(), rtol=1e-10)
    assert_close(dmemory, t_memory.grad.numpy(), rtol=1e-10)
    if score == "general":
        assert_close(att.grads["W_a"], t_W_a.grad.numpy(), rtol=1e-10)
