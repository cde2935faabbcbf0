"""SIGINT and SIGTERM in the ``uavcine`` command: the run stops, its output bag is closed, the exit status says so.

Python's own Ctrl-C handling raises ``KeyboardInterrupt`` wherever the main thread happens to be. Under
load, killing real ``uavcine run`` subprocesses at random moments (tests/test_bag_reliability.py) showed
two ways that goes wrong:

* a library that catches everything swallows it (pymavlink's mavutil imports curses inside a bare
  ``except:``, and is imported when the MAVLink/tlog nodes start): the run went on to its end, exit 0;
* raised inside code run by ``exec`` of a string (rosbags compiles its serializers that way, dataclasses
  their methods), CPython marks the ``KeyboardInterrupt`` unhandled even when it is caught later, and
  under ``python -m`` the interpreter then kills itself with SIGINT: exit -2 instead of 130. CPython
  checks the exact type, so the subclasses raised here are not marked.

So the handler records the signal and raises ``Interrupted`` (SIGINT) or ``Terminated`` (SIGTERM); the
offline host also looks at the record at every event (``check``), so a swallowed exception stops the run
at the next one; opening and closing the bag hold the exception until they are done (``deferred``); a
second signal never interrupts the closing; and ``uavcine``'s exit status follows the record.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from ..errors import Interrupted, Terminated

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}  # 128 + the signal number, as a shell reports it


class _State:
    signum = None     # the first signal received since install(), or None
    depth = 0         # > 0 inside deferred()
    pending = False   # a signal arrived inside deferred(): raise when it ends


def exception_for(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else Interrupted()


def _handler(signum, frame):
    if _State.signum is not None:  # already stopping: a second signal must not interrupt the closing of the bag
        return
    _State.signum = signum
    if _State.depth:
        _State.pending = True
        return
    raise exception_for(signum)


def install():
    """Handle SIGINT and SIGTERM (main thread only; elsewhere a no-op). Returns a function restoring the previous
    handlers (``main()`` called in-process, from the tests, must not leave its handlers behind)."""
    _State.signum, _State.depth, _State.pending = None, 0, False
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    # a signal the parent ignores stays ignored (nohup, `cmd &` in a script: SIGINT), as Python itself keeps it
    previous = {s: signal.signal(s, _handler) for s in SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}

    def restore():
        _State.signum, _State.depth, _State.pending = None, 0, False
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)
    return restore


def received():
    """The signal that asked this process to stop (signal.SIGINT / SIGTERM), or None."""
    return _State.signum


def check():
    """Raise the stop exception if a signal arrived (its first raise may have been swallowed by a library)."""
    if _State.signum is not None and not _State.depth:
        raise exception_for(_State.signum)


@contextmanager
def deferred():
    """A section a signal must not cut (opening or closing the output bag): the exception is raised at its end."""
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
    if not _State.depth and _State.pending:
        _State.pending = False
        raise exception_for(_State.signum)
