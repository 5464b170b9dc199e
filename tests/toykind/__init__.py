"""A kind of model that lives outside elman, registered as any package would register
one (an ``elman.kinds`` entry point naming this ``REGISTRATION``), to show that a new
kind needs no file of ``src/``: tests/test_toy_kind.py installs it in a subprocess's
path and trains, resumes and evaluates it through the ``elman`` command.

kind.py   a many-to-one regressor: the mean of a text's character embeddings, then an
          affine layer to one number; squared error
"""

from elman.registry import Registration

REGISTRATION = Registration(
    "regressor", "regress", "many-to-one regression: one number per text (a toy)",
    "tests.toykind.kind",
)  # fmt: skip
