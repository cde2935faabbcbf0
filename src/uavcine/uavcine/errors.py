"""Errors that mean 'the user gave something wrong': the `uavcine` command prints one line and exits 2."""


class UserError(Exception):
    """A user's mistake found by a subcommand (bad argument, missing file, ...).

    The one base of every user error (parameters, graphs, bags, messages, interfaces, scenarios):
    ``uavcine`` prints one line for it and exits 2; with ``-v`` it prints the traceback, whose
    chained cause (``raise ... from err``) says what went wrong underneath."""
