"""Settings for the whole test suite."""

from hypothesis import settings

# Property tests check what holds, not how fast: on a loaded machine (CI, or the
# cores shared with a training run) one example can take longer than hypothesis's
# default 200 ms deadline, which would fail a correct test.
settings.register_profile("elman", deadline=None)
settings.load_profile("elman")
