"""rosbag2 input and output for the offline host, through rosbags.

Output: MCAP storage, metadata version 8 (ROS 2 Humble's ``ros2 bag`` rejects
version 9 with "bad conversion"), ROS 2 .msg text as message definitions, and the
publishers' offered QoS in the metadata so ``ros2 bag play`` offers the same QoS.
A rosbag2 bag is a directory: ``--out runs/x.mcap`` writes ``runs/x/x.mcap`` and
``runs/x/metadata.yaml``.

Input: any rosbag2 (sqlite3 or MCAP) or ROS 1 bag that rosbags reads; types come
from the bag's own definitions, with our typestore as the fallback.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

from rosbags.highlevel import AnyReader
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer

from ..errors import UserError
from ..nodes.base import QoS


class BagError(UserError, RuntimeError):
    """A bag cannot be read or written; the message is one line for the user."""


def bag_dir(path: str | Path) -> Path:
    """Where a bag lives given what a user typed: a directory, its .mcap/.db3 file, or NAME.mcap for NAME/."""
    p = Path(path)
    if p.is_dir():
        return p
    if p.suffix in ('.mcap', '.db3') and p.is_file() and (p.parent / 'metadata.yaml').is_file():
        return p.parent
    if p.suffix == '.mcap' and p.with_suffix('').is_dir():
        return p.with_suffix('')
    return p


def out_dir(path: str | Path) -> Path:
    """The bag directory to create for ``--out``: NAME.mcap -> NAME/ (holding NAME.mcap)."""
    p = Path(path)
    return p.with_suffix('') if p.suffix == '.mcap' else p


_ZERO = QosTime(0, 0)
_INF = QosTime(2147483647, 4294967295)  # rmw's "infinite" as rosbag2 stores it


def to_rosbags_qos(q: QoS) -> Qos:
    return Qos(history=QosHistory.KEEP_LAST if q.history == 'keep_last' else QosHistory.KEEP_ALL,
               depth=q.depth,
               reliability=QosReliability.RELIABLE if q.reliability == 'reliable' else QosReliability.BEST_EFFORT,
               durability=QosDurability.TRANSIENT_LOCAL if q.durability == 'transient_local' else QosDurability.VOLATILE,
               deadline=_INF, lifespan=_INF, liveliness=QosLiveliness.AUTOMATIC,
               liveliness_lease_duration=_INF, avoid_ros_namespace_conventions=False)


def from_rosbags_qos(qos_list) -> QoS | None:
    """The QoS a recorded publisher offered (the first one), or None if the bag does not say."""
    for q in qos_list or ():
        try:
            return QoS('best_effort' if q.reliability == QosReliability.BEST_EFFORT else 'reliable',
                       'transient_local' if q.durability == QosDurability.TRANSIENT_LOCAL else 'volatile',
                       max(1, int(q.depth or 1)))
        except AttributeError:
            return None
    return None


class BagWriter:
    """Writes messages to a new rosbag2 MCAP bag (metadata v8). Always call close()."""

    def __init__(self, path: str | Path, typestore):
        self.path = out_dir(path)
        if self.path.exists():
            raise BagError('output bag %s exists already; choose another --out or remove it' % self.path)
        self.typestore = typestore
        self.writer = Writer(self.path, version=8, storage_plugin=StoragePlugin.MCAP)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer.open()
        except OSError as exc:
            raise BagError('cannot create output bag %s: %s' % (self.path, exc)) from exc
        self.conns: dict = {}
        self.counts: dict = {}
        self.closed = False

    def add_topic(self, topic: str, msgtype: str, qos: QoS | None = None, msgdef: str | None = None,
                  rihs01: str | None = None):
        conn = self.conns.get(topic)
        if conn is not None:
            return conn
        kw = {'offered_qos_profiles': [to_rosbags_qos(qos)] if qos else []}
        if msgdef is not None and msgtype not in self.typestore.types:
            kw.update(msgdef=msgdef, rihs01=rihs01 or '')
        else:
            kw['typestore'] = self.typestore
        conn = self.writer.add_connection(topic, msgtype, **kw)
        self.conns[topic] = conn
        self.counts[topic] = 0
        return conn

    def write(self, topic: str, t_ns: int, raw: bytes):
        self.writer.write(self.conns[topic], int(t_ns), raw)
        self.counts[topic] += 1

    def close(self):
        if not self.closed:
            self.closed = True
            self.writer.close()


@dataclass
class BagTopic:
    name: str
    msgtype: str
    count: int
    qos: QoS | None
    msgdef: str
    rihs01: str


class BagReader:
    """Reads a bag with rosbags' AnyReader; every failure becomes a BagError with one line.

    ``recover=True`` reads what precedes the damage of a truncated MCAP file (a recorder
    killed mid-flight leaves no summary): ``self.recovered`` then says what was lost.
    """

    def __init__(self, path: str | Path, typestore, recover: bool = False):
        self.path = bag_dir(path)
        self.recovered = None
        if not self.path.exists():
            raise BagError('bag not found: %s' % path)
        try:
            self.reader = AnyReader([self.path], default_typestore=typestore)
            self.reader.open()
        except Exception as exc:  # rosbags raises several error types for damaged bags
            mcaps = sorted(self.path.glob('*.mcap')) if self.path.is_dir() else [self.path]
            if recover and mcaps and mcaps[0].suffix == '.mcap':
                self.reader = _RecoveredMcap(mcaps[0], typestore)
                self.recovered = 'bag %s is damaged (%s); read the %d messages before the damage' % (
                    self.path, _one_line(exc), self.reader.count)
            else:
                hint = ' (truncated? `uavcine eval` reads what precedes the damage)' if 'magic' in str(exc) else ''
                raise BagError('cannot open bag %s: %s%s' % (self.path, _one_line(exc), hint)) from exc
        self.topics: dict = {}
        for c in self.reader.connections:
            qos = from_rosbags_qos(getattr(c.ext, 'offered_qos_profiles', None))
            t = self.topics.get(c.topic)
            if t is None:
                self.topics[c.topic] = BagTopic(c.topic, c.msgtype, c.msgcount, qos,
                                                getattr(c.msgdef, 'data', '') or '', c.digest or '')
            else:
                t.count += c.msgcount

    @property
    def start_ns(self) -> int:
        return self.reader.start_time

    @property
    def end_ns(self) -> int:
        return self.reader.end_time

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self.topics.values())

    def messages(self, topics=None) -> Iterator[tuple]:
        """(topic, msgtype, t_ns, raw) in log-time order."""
        conns = [c for c in self.reader.connections if topics is None or c.topic in topics]
        try:
            for conn, t_ns, raw in self.reader.messages(connections=conns):
                yield conn.topic, conn.msgtype, t_ns, raw
        except Exception as exc:
            raise BagError('bag %s is damaged or truncated: %s' % (self.path, _one_line(exc))) from exc

    def deserialize(self, raw, msgtype: str):
        try:
            return self.reader.deserialize(raw, msgtype)
        except Exception as exc:
            raise BagError('cannot decode a %s message in %s: %s' % (msgtype, self.path, _one_line(exc))) from exc

    def close(self):
        try:
            self.reader.close()
        except Exception:  # closing a damaged bag must not hide the first error
            pass


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


class _RecoveredMcap:
    """The readable prefix of a damaged MCAP file, with AnyReader's interface (what BagReader uses).

    rosbags needs the summary section that a killed recorder never wrote; the mcap
    library's stream reader walks the records from the start, so we stop at the damage.
    """

    def __init__(self, path: Path, typestore):

        from mcap.records import Channel, Message, Schema  # lazy: optional dependency (mcap, offline extra)
        from mcap.stream_reader import StreamReader  # lazy: optional dependency (mcap, offline extra)
        from rosbags.typesys import get_types_from_msg  # lazy: optional dependency (rosbags, offline extra)

        self.typestore = typestore
        schemas, channels, self.msgs = {}, {}, []
        try:
            with open(path, 'rb') as f:
                for rec in StreamReader(f, record_size_limit=1 << 31).records:
                    if isinstance(rec, Schema):
                        schemas[rec.id] = rec
                    elif isinstance(rec, Channel):
                        channels[rec.id] = rec
                    elif isinstance(rec, Message) and rec.channel_id in channels:
                        self.msgs.append((rec.channel_id, rec.log_time, rec.data))
        except Exception:  # mcap's EndOfFile, CRC or record errors: the damage; keep what came before
            pass
        counts: dict = {}
        for cid, _, _ in self.msgs:
            counts[cid] = counts.get(cid, 0) + 1
        self.connections = []
        for cid, ch in channels.items():
            schema = schemas.get(ch.schema_id)
            msgtype = schema.name if schema else ''
            msgdef = schema.data.decode() if schema else ''
            if msgtype and msgtype not in typestore.types and msgdef:
                try:
                    typestore.register(get_types_from_msg(msgdef, msgtype))
                except Exception:
                    pass
            self.connections.append(SimpleNamespace(
                id=cid, topic=ch.topic, msgtype=msgtype, msgcount=counts.get(cid, 0), digest='',
                msgdef=SimpleNamespace(data=msgdef), ext=SimpleNamespace(offered_qos_profiles=[])))
        self.count = len(self.msgs)
        self.msgs.sort(key=lambda m: m[1])
        times = [t for _, t, _ in self.msgs]
        self.start_time = times[0] if times else 0
        self.end_time = times[-1] if times else 0

    def messages(self, connections=()):
        by_id = {c.id: c for c in connections}
        for cid, t, data in self.msgs:
            if cid in by_id:
                yield by_id[cid], t, data

    def deserialize(self, raw, msgtype):
        return self.typestore.deserialize_cdr(raw, msgtype)

    def close(self):
        self.msgs = []
