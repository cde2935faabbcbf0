"""Errors that mean 'the user gave something wrong': the `uavcine` command prints one line and exits 2."""


class UserError(Exception):
    """A user's mistake found by a subcommand (bad argument, missing file, ...)."""
