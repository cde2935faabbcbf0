"""Gestures -> shot commands, with the safety rules of a director's gesture interface.

A recognised gesture becomes a command only when

1. it comes from the tracked subject (never from a bystander),
2. its confidence is at least ``min_confidence`` and it maps to a command,
3. the same gesture has been recognised that way continuously for ``hold_s`` seconds
   (any other gesture, low confidence, a gap longer than ``max_gap_s`` or another person
   restarts the hold), and
4. no command was sent in the last ``refractory_s`` seconds.

After a command is sent the hold restarts, so one long gesture sends it once per
refractory period at most. The gate holds no configuration: the caller passes the current
``GateConfig`` on every update, so a parameter changed at run time takes effect at once.

Python 3.8, no dependencies.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

#: Commands a shot runner understands (values of uavcine_interfaces/ShotCommand.command).
COMMANDS = {'START': 1, 'HOLD': 2, 'LATERAL_LEFT': 3, 'LATERAL_RIGHT': 4, 'END': 5}
#: The recogniser's class for a person who is not signalling: it never sends a command.
NO_GESTURE = 'none'


class MappingError(ValueError):
    """A gesture -> command mapping entry a user wrote is wrong."""


def parse_mapping(entries: Sequence[str], labels: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """['all_clear=START', 'hover=HOLD', ...] -> {'all_clear': 'START', ...}; one clear error per bad entry."""
    out = {}
    for e in entries:
        if not e.strip():
            continue
        gesture, sep, command = (s.strip() for s in e.partition('='))
        if not sep or not gesture or command not in COMMANDS:
            raise MappingError('gesture mapping %r: expected GESTURE=COMMAND with COMMAND one of %s'
                               % (e, ', '.join(COMMANDS)))
        if gesture == NO_GESTURE:
            raise MappingError('gesture mapping %r: %r means the person is not signalling and sends no command'
                               % (e, NO_GESTURE))
        if labels is not None and gesture not in labels:
            raise MappingError('gesture mapping %r: unknown gesture %r (known: %s)' % (e, gesture, ', '.join(labels)))
        out[gesture] = command
    return out


@dataclass
class GateConfig:
    mapping: Dict[str, str]
    min_confidence: float = 0.8
    hold_s: float = 1.0
    refractory_s: float = 5.0
    max_gap_s: float = 1.0


@dataclass
class GateDecision:
    command: Optional[str]       # the command to send now, or None
    reason: str                  # why (sent / holding / refractory / low confidence / ...)


class CommandGate:
    """The state of the rules above for one stream of recognitions (times in seconds)."""

    def __init__(self):
        self.candidate = None  # type: Optional[str]
        self.since = None      # type: Optional[float]
        self.last_seen = None  # type: Optional[float]
        self.last_sent = None  # type: Optional[float]
        self.sent = []         # type: List[tuple]

    def reset(self):
        self.candidate = self.since = self.last_seen = None

    def update(self, t: float, label: Optional[str], confidence: float, from_subject: bool,
               cfg: GateConfig) -> GateDecision:
        if not from_subject:
            self.reset()
            return GateDecision(None, 'not the tracked subject')
        if label is None or label not in cfg.mapping:
            self.reset()
            return GateDecision(None, 'no gesture' if label is None else '%s maps to no command' % label)
        if confidence < cfg.min_confidence:
            self.reset()
            return GateDecision(None, 'confidence %.2f below %.2f' % (confidence, cfg.min_confidence))
        if label != self.candidate or self.last_seen is None or t - self.last_seen > cfg.max_gap_s:
            self.candidate, self.since = label, t
        self.last_seen = t
        if t - self.since < cfg.hold_s:
            return GateDecision(None, 'holding %s for %.1f of %.1f s' % (label, t - self.since, cfg.hold_s))
        if self.last_sent is not None and t - self.last_sent < cfg.refractory_s:
            return GateDecision(None, 'refractory: %.1f s since the last command' % (t - self.last_sent))
        command = cfg.mapping[label]
        self.last_sent = t
        self.sent.append((t, label, command))
        self.reset()
        return GateDecision(command, 'sent %s for %s' % (command, label))
