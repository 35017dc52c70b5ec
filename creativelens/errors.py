class UserError(Exception):
    """A problem the user can fix (bad flag, missing file, unknown model).

    The command line prints its message on one line and exits with `exit_code`, without a
    traceback.
    """

    exit_code = 2


class OutputNotWritable(UserError):
    """The results folder cannot be written (read-only, no permission, disk full)."""

    exit_code = 4
