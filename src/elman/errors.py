"""The exceptions that end a command without a traceback: ``ElmanError`` for mistakes a
user can fix, and the two ways a training run stops early."""


class ElmanError(Exception):
    """A user error: bad input, a bad setting, a file that is not what it should be.

    The message is one sentence that names the problem and the fix. The CLI prints
    it on stderr and exits with code 2, without a traceback.
    """


class LimitReached(Exception):
    """A resumed run has already reached its --epochs, --max-steps or --max-minutes."""


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM arrived; the training state was saved before stopping."""
