"""Gradient clipping and the optimisers, against hand-computed values and torch.optim.Adam."""

import numpy as np
import pytest

from elman.optim import SGD, Adam, clip_grad_norm, make_optimizer
from tests.numeric import assert_close


def test_clip_returns_the_norm_and_scales_down_to_max_norm():
    """(3, 4) has norm 5; clipped to 1 it becomes (0.6, 0.8), the same direction."""
    grads = np.array([3.0, 4.0])
    assert clip_grad_norm(grads, 1.0) == pytest.approx(5.0)
    assert_close(grads, np.array([0.6, 0.8]), rtol=1e-6)
    assert np.linalg.norm(grads) == pytest.approx(1.0, rel=1e-6)


def test_clip_leaves_small_gradients_alone():
    grads = np.array([0.3, -0.4, 0.0])
    assert clip_grad_norm(grads, 1.0) == pytest.approx(0.5)
    assert np.array_equal(grads, [0.3, -0.4, 0.0])


def test_clip_zero_disables_clipping():
    grads = np.array([300.0, -400.0])
    assert clip_grad_norm(grads, 0.0) == pytest.approx(500.0)
    assert np.array_equal(grads, [300.0, -400.0])


def test_clip_works_in_place_on_a_float32_view():
    """The model clips its flat buffer; the parameters' gradient views must see it."""
    flat = np.array([6.0, 8.0, 0.0, 0.0], np.float32)
    view = flat[:2].reshape(1, 2)
    clip_grad_norm(flat, 2.0)
    assert flat.dtype == np.float32
    assert_close(view, np.array([[1.2, 1.6]]), rtol=1e-5)


def test_sgd_step_by_hand():
    """p <- p - lr * g, in place on the buffer the optimiser was given; the spent
    gradient buffer holds the step taken, -lr * g."""
    params = np.array([1.0, -2.0, 0.5])
    view = params[1:]
    grads = np.array([10.0, 1.0, -5.0])
    opt = SGD(params, lr=0.1)
    opt.step(grads)
    assert_close(params, np.array([0.0, -2.1, 1.0]), rtol=1e-12)
    assert_close(view, np.array([-2.1, 1.0]), rtol=1e-12)
    assert_close(grads, np.array([-1.0, -0.1, 0.5]), rtol=1e-12)


@pytest.mark.parametrize("optimizer", [SGD, Adam])
@pytest.mark.parametrize("clip", [0.0, 1.0, 100.0])
def test_a_clipped_step_is_clip_grad_norm_then_the_step(optimizer, clip):
    """SGD folds the clipping factor into its learning rate; Adam clips first. Either way
    the step equals clip_grad_norm followed by an unclipped step, and returns the norm."""
    rng = np.random.default_rng(0)
    start, grads = rng.normal(size=7), 3 * rng.normal(size=7)
    clipped_params, clipped = start.copy(), grads.copy()
    norm = clip_grad_norm(clipped, clip)
    optimizer(clipped_params, lr=0.1).step(clipped)
    params = start.copy()
    assert optimizer(params, lr=0.1).step(grads.copy(), clip=clip) == pytest.approx(norm)
    assert_close(params, clipped_params, rtol=1e-12)
    if optimizer is SGD:  # (Adam's first step does not depend on the gradient's scale)
        assert (clip == 1.0) == (not np.allclose(params, start - 0.1 * grads))  # 100: no clip


def test_adam_first_step_moves_every_parameter_by_lr():
    """With bias correction, step 1 is lr * g / |g| (up to eps) whatever the gradient scale."""
    params = np.zeros(4)
    Adam(params, lr=0.01).step(np.array([0.1, -2.0, 50.0, -1e3]))
    assert_close(params, np.array([-0.01, 0.01, -0.01, 0.01]), rtol=1e-5)


def test_make_optimizer_by_name():
    params = np.zeros(3)
    assert isinstance(make_optimizer("sgd", params, 1.0), SGD)
    adam = make_optimizer("adam", params, 0.002)
    assert isinstance(adam, Adam) and adam.params is params and adam.lr == 0.002


def run_adam_and_torch_adam(torch, start, grads, lr=0.01, betas=(0.9, 0.99), eps=1e-8):
    """Both optimisers over the same flat parameter and gradients, lr divided by 4
    after step 3 as lr decay does; returns (elman's parameters, PyTorch's)."""
    params = start.copy()
    ours = Adam(params, lr=lr, betas=betas, eps=eps)
    theirs_p = torch.nn.Parameter(torch.from_numpy(start.copy()))
    theirs = torch.optim.Adam([theirs_p], lr=lr, betas=betas, eps=eps)
    for t, g in enumerate(grads):
        if t == 3:
            ours.lr /= 4
            theirs.param_groups[0]["lr"] /= 4
        theirs_p.grad = torch.from_numpy(g.copy())
        ours.step(g.copy())  # it uses up its gradients
        theirs.step()
    assert not np.allclose(params, start)
    return params, theirs_p.detach().numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adam_matches_torch_adam(dtype):
    """torch.optim.Adam on the same flat parameter and the same 6 gradients of scales
    0.1 to 10, with the learning rate changed midway, ends at the same parameters."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    scales = 10.0 ** rng.integers(-1, 2, size=20)
    grads = [(rng.normal(size=20) * scales).astype(dtype) for _ in range(6)]
    ours, theirs = run_adam_and_torch_adam(torch, rng.normal(size=20).astype(dtype), grads)
    rtol = 1e-5 if dtype == np.float64 else 2e-5
    assert_close(ours, theirs, rtol=rtol, atol=1e-6)


def test_adam_matches_torch_adam_on_small_gradients():
    """Gradients of 1e-7 to 1e-4, as rare embedding rows get: the step length is
    lr * m_hat / (sqrt(v_hat) + eps) in PyTorch and in Kingma & Ba's Algorithm 1."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    scales = 10.0 ** rng.integers(-7, -3, size=20)
    grads = [rng.normal(size=20) * scales for _ in range(6)]
    ours, theirs = run_adam_and_torch_adam(torch, rng.normal(size=20), grads)
    assert_close(ours, theirs, rtol=1e-5, atol=1e-9)
