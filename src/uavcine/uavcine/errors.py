"""Errors that mean 'the user gave something wrong': the `uavcine` command prints one line and exits 2."""


class UserError(Exception):
    """A user's mistake found by a subcommand (bad argument, missing file, ...).

    The one base of every user error (parameters, graphs, bags, messages, interfaces, scenarios):
    ``uavcine`` prints one line for it and exits 2; with ``-v`` it prints the traceback, whose
    chained cause (``raise ... from err``) says what went wrong underneath."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, timeout, systemd, docker stop): handled as Ctrl-C, so output bags are closed."""


class Interrupted(KeyboardInterrupt):
    """SIGINT (Ctrl-C) as the ``uavcine`` command raises it: a subclass, so that CPython never takes it for an
    unhandled KeyboardInterrupt and exits -2 (see uavcine.offline.interrupts)."""
