"""The errors that mean "the input is wrong", not "the code is": entrypoints report these
as one line with exit code 2, and let every other exception through with its traceback."""


class ConfigError(ValueError):
    """A config value, an argument or a workdir that a run cannot use; the message says
    which and why."""


class DataError(RuntimeError):
    """Missing, corrupt or malformed data; the message names the file and the fix."""
