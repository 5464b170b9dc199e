"""Vectors computed elsewhere (image features, embeddings, topics), one per line of a text,
in a NumPy ``.npy`` file: what a vector-conditioned language model reads."""

from __future__ import annotations

import os

import numpy as np

from elman.errors import ElmanError


def read_vectors(path: str | os.PathLike[str], rows: int | None = None) -> np.ndarray:
    """The (N, C) float32 array in the ``.npy`` file at ``path``; with ``rows``, refused
    unless it has that many rows (one per line of the text it belongs to). A 1-D array
    is one vector. Never unpickles: a file of Python objects is refused, and so is one of
    complex numbers (casting would drop their imaginary parts without a word)."""
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ElmanError(f"{name} does not exist; check the path of the .npy file.")
    try:
        array = np.load(name, allow_pickle=False)
    except ValueError as e:
        raise ElmanError(
            f"{name} is not a NumPy array of numbers ({e}); save one with numpy.save."
        ) from None
    except OSError as e:
        raise ElmanError(
            f"{name} cannot be read as a .npy file ({e}); save it with numpy.save."
        ) from None
    if isinstance(array, np.lib.npyio.NpzFile) or not isinstance(array, np.ndarray):
        raise ElmanError(f"{name} is not one .npy array; save a single array with numpy.save.")
    if array.ndim == 1:
        array = array[None, :]
    if np.issubdtype(array.dtype, np.complexfloating):
        raise ElmanError(
            f"{name} holds complex numbers ({array.dtype}); a model reads real vectors, so "
            "save the part you mean (numpy.real, numpy.abs) or both as separate columns."
        )
    real = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    if array.ndim != 2 or not real:
        raise ElmanError(
            f"{name} holds an array of shape {array.shape} and type {array.dtype}; expected "
            "real numbers, one row per line of the text."
        )
    if not np.all(np.isfinite(array)):
        raise ElmanError(f"{name} holds NaN or infinite values; give finite vectors.")
    if rows is not None and len(array) != rows:
        raise ElmanError(
            f"{name} has {len(array)} rows but the text has {rows} lines; give one vector per "
            "line, in the text's order."
        )
    return array.astype(np.float32)
