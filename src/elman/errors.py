"""The one exception type for mistakes a user can fix."""


class ElmanError(Exception):
    """A user error: bad input, a bad setting, a file that is not what it should be.

    The message is one sentence that names the problem and the fix. The CLI prints
    it on stderr and exits with code 2, without a traceback.
    """
