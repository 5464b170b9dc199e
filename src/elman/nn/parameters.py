"""All of a model's parameters in one flat buffer, each layer's arrays views into it, and
the few operations the training loop and the optimisers make on such buffers."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def pack_parameters(
    layers: Iterable[tuple[str, object]], dtype: np.dtype, skip: frozenset[str] = frozenset()
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Move the ``params`` of named layers into one flat buffer (and their ``grads``
    into another), replacing each layer's arrays by views, so the layers keep
    reading ``self.params["W"]`` while clipping and updates work on one array.

    Returns (flat_params, flat_grads, params, grads) with names "layer.key";
    names in ``skip`` (a tied weight that views another) are left alone.
    """
    named = [
        (f"{prefix}.{key}", layer, key)
        for prefix, layer in layers
        for key in layer.params
        if f"{prefix}.{key}" not in skip
    ]
    total = sum(layer.params[key].size for _, layer, key in named)
    flat_params = np.empty(total, dtype)
    flat_grads = np.zeros(total, dtype)
    params: dict[str, np.ndarray] = {}
    grads: dict[str, np.ndarray] = {}
    offset = 0
    for name, layer, key in named:
        value = layer.params[key]
        end = offset + value.size
        param = flat_params[offset:end].reshape(value.shape)
        param[...] = value
        layer.params[key] = params[name] = param
        layer.grads[key] = grads[name] = flat_grads[offset:end].reshape(value.shape)
        offset = end
    return flat_params, flat_grads, params, grads


def weights_over_bias(W: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """[W; b], W (H, V) with the bias row b (V,) below it, as one (H + 1, V) array without
    copying, when b directly follows W in the same buffer; None otherwise.

    ``pack_parameters`` lays out each layer's arrays one after another in the order of
    its ``params``, so an affine layer's {"W", "b"} qualify once packed. Then
    x W + b = [x, 1] [W; b] is a single matrix product, which saves a pass over its
    (N, V) result.
    """
    packed = W.base is not None and W.base is b.base and W.dtype == b.dtype
    if not (packed and W.flags.c_contiguous and b.shape == W.shape[1:]):
        return None
    if b.ctypes.data != W.ctypes.data + W.nbytes:
        return None
    return np.lib.stride_tricks.as_strided(W, (W.shape[0] + 1, W.shape[1]), writeable=False)


class NumpyArrays:
    """The operations the training loop and the optimisers make on a model's flat buffers,
    for NumPy arrays of ``dtype``. The PyTorch backend has the same for tensors on a
    device (``elman.torch_backend.arrays.TorchArrays``); in-place arithmetic (``+=``,
    ``*=``, ``a[...] = b`` between buffers of one kind) is the same for both and written
    directly."""

    backend = "numpy"  # recorded in the training state, which only this backend resumes

    def __init__(self, dtype: np.dtype | type) -> None:
        self.dtype = np.dtype(dtype)

    def zeros_like(self, a: np.ndarray) -> np.ndarray:
        return np.zeros_like(a)

    def copy(self, a: np.ndarray) -> np.ndarray:
        return a.copy()

    def sqrt(self, a: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The square root of ``a`` into ``out``, with nothing allocated."""
        return np.sqrt(a, out=out)

    def norm(self, a: np.ndarray) -> float:
        """The L2 norm of a flat buffer."""
        return float(np.sqrt(np.dot(a, a)))

    def to_numpy(self, a: np.ndarray) -> np.ndarray:
        return a

    def from_numpy(self, a: np.ndarray) -> np.ndarray:
        """``a`` as a buffer of this kind (a copy only when the dtype differs)."""
        return np.asarray(a, self.dtype)
