"""The exceptions that end a command without a traceback: ``ElmanError`` for mistakes a
user can fix, and the two ways a training run stops early; and what to do when the
system refuses a file."""

from __future__ import annotations

import errno


class ElmanError(Exception):
    """A user error: bad input, a bad setting, a file that is not what it should be.

    The message is one sentence that names the problem and the fix. The CLI prints
    it on stderr and exits with code 2, without a traceback.
    """


def os_error_fix(error: OSError) -> str:
    """What to do about a file the system would not let elman read or write, by the
    error's number: a full disk, missing permissions, or anything else."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some disk space"
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "fix the permissions, or choose a place elman may write to"
    return "check the path"


class LimitReached(Exception):
    """A resumed run has already reached its --epochs, --max-steps or --max-minutes."""


class TrainingInterrupted(Exception):
    """SIGINT or SIGTERM arrived; the training state was saved before stopping."""
