class UserError(Exception):
    """A problem the user can fix (bad flag, missing file, unknown model).

    The command line prints its message on one line and exits non-zero, without a traceback.
    """
