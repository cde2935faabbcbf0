"""The offline host: runs a graph of nodes in one process, deterministically, on simulated time.

A discrete-event loop. Events are bag messages (at their log time) and timer
firings (at simulated times); the host's clock jumps to each event in order.
What a callback publishes is queued and delivered, first in first out, before
the clock moves on, so the same inputs always give the same outputs. Every
published message (and, by default, every bag input) is written to an output
rosbag2 MCAP that ROS 2 Humble's ``ros2 bag`` reads.

QoS behaves as in DDS: a reliable subscription does not receive from a
best-effort publisher (and the host says so once); transient-local publishers
keep their last messages for late subscribers.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import time
import traceback
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from ..errors import UserError
from ..nodes.base import RELIABLE, Host, Node, ParamError, QoS, make_params
from ..nodes.msgs import BadMessage
from .bag import BagError, BagReader, BagWriter
from .images import COMPRESSED, IMAGE, SUFFIX, from_compressed, to_jpeg
from .messages import MessageError, new_message
from .typestore import make_typestore
from . import interrupts
from . import media_source  # noqa: F401,E402  registers the bag reader of the media services

log = logging.getLogger('uavcine')

#: Default start of simulated time when no bag gives one: 2024-01-01T00:00:00Z.
DEFAULT_START_NS = 1_704_067_200 * 1_000_000_000


class GraphError(UserError, RuntimeError):
    """The graph cannot run as declared (type clash, unknown type, bad remap); one line for the user."""


def resolve(name: str, remap: dict) -> str:
    """A node's topic name -> absolute name ('image' -> '/image'), after the node's remaps."""
    for key in (name, '/' + name.lstrip('/')):
        if key in remap:
            name = remap[key]
            break
    return name if name.startswith('/') else '/' + name


@dataclass
class _Pub:
    node: Node
    topic: str
    msgtype: str
    qos: QoS
    latched: deque = field(default_factory=deque)

    def publish(self, msg):  # replaced per instance by the host
        raise NotImplementedError


@dataclass
class _Sub:
    node: Node
    topic: str
    msgtype: str
    qos: QoS
    callback: Callable


@dataclass
class _Timer:
    node: Node
    period_ns: int
    callback: Callable
    next_ns: int
    cancelled: bool = False

    def cancel(self):
        self.cancelled = True


#: Callback durations kept per node for the percentiles: a bounded window, or a long run's memory grows
#: by 8 bytes a callback without end (an 8-minute soak of the onboard graph found it: eval/soak.py).
KEEP_DURATIONS = 10_000


@dataclass
class NodeStats:
    """Wall time spent in a node's callbacks (seconds), for latency reports: totals over the whole run,
    ``durations`` of the last KEEP_DURATIONS calls (for percentiles)."""

    calls: int = 0
    total_s: float = 0.0
    durations: deque = field(default_factory=lambda: deque(maxlen=KEEP_DURATIONS))
    errors: int = 0


class _Publisher:
    def __init__(self, host: 'OfflineHost', pub: _Pub):
        self._host, self._pub = host, pub
        self.topic = pub.topic

    def publish(self, msg):
        self._host._publish(self._pub, msg)


class _Service:
    def __init__(self, node: Node, srv_type: str, name: str, callback: Callable, host: 'OfflineHost'):
        self.node, self.srv_type, self.name, self.callback, self.host = node, srv_type, name, callback, host

    def call(self, request):
        """Synchronous call (the offline host's clients are direct calls)."""
        response = self.host.new(self.srv_type + '_Response', {})
        return self.host._invoke(self.node, self.callback, request, response)


class OfflineHost(Host):
    """Runs nodes offline. ``strict=True`` re-raises errors from callbacks (tests); else they are counted and logged."""

    def __init__(self, out: str | Path | None = None, *, realtime: bool = False, strict: bool = True,
                 record_inputs: bool = True, start_ns: int | None = None, typestore=None,
                 compression: str = 'zstd', image_format: str = 'raw', jpeg_quality: int = 90):
        self.typestore = typestore or make_typestore()
        self.realtime = realtime
        self.strict = strict
        self.record_inputs = record_inputs
        self.nodes: list = []
        self.topic_types: dict = {}
        self.pubs: dict = defaultdict(list)
        self.subs: dict = defaultdict(list)
        self.services: dict = {}
        self.timers: list = []
        self.bags: list = []
        self.captures: dict = defaultdict(list)
        self.stats: dict = defaultdict(NodeStats)
        self.errors: list = []
        self.warned: set = set()
        self.counts: dict = defaultdict(int)
        self._now = start_ns
        self._seq = itertools.count()
        self._pending: deque = deque()
        self._shutdown: str | None = None
        self._remaps: dict = {}
        self._decompressed: dict = {}  # (id(bag reader), TOPIC/compressed) -> TOPIC
        self._current: Node | None = None
        with interrupts.deferred():  # a Ctrl-C/SIGTERM must not leave a bag file the host does not know of
            self.writer = BagWriter(out, self.typestore, compression) if out is not None else None
        if image_format not in ('raw', 'jpeg'):
            raise GraphError('image format %r: use raw or jpeg' % image_format)
        if not 1 <= int(jpeg_quality) <= 100:
            raise GraphError('JPEG quality %r: give 1 to 100' % jpeg_quality)
        #: 'jpeg': camera images are recorded as sensor_msgs/CompressedImage on TOPIC/compressed
        self.image_format, self.jpeg_quality = image_format, int(jpeg_quality)
        #: Extra consumers of every message: callables (topic, msgtype, t_ns, raw_cdr, msgdef=None), e.g. a live view.
        self.sinks: list = []

    # ------------------------------------------------------------------ building the graph
    def add_node(self, node_cls, params: dict | None = None, name: str | None = None, remap: dict | None = None):
        """Instantiate a node class in this host; params are checked against its declarations."""
        name = name or node_cls.NAME
        if any(n.name == name for n in self.nodes):
            raise GraphError('two nodes are named %r; give one another name' % name)
        p = make_params(node_cls.Params, params or {}, node_name=name)
        node = node_cls.__new__(node_cls)  # remaps must be known before setup() creates endpoints
        self._remaps[id(node)] = dict(remap or {})
        prev, self._current = self._current, node
        try:
            node_cls.__init__(node, self, p, name)
        except (GraphError, ParamError):  # already one line naming the node or the parameter
            self._forget(node)
            raise
        except Exception as exc:  # a node that cannot start (missing model, bad scenario): one line for the user
            self._forget(node)
            raise GraphError('node %s could not start: %s' % (name, str(exc).strip().splitlines()[0] if str(exc).strip()
                                                               else type(exc).__name__)) from exc
        except BaseException:
            self._forget(node)
            raise
        finally:
            self._current = prev
        self.nodes.append(node)
        return node

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise GraphError('no node named %r (nodes: %s)' % (name, ', '.join(n.name for n in self.nodes)))

    def set_parameters(self, node_name: str, values: dict) -> tuple:
        """Change a running node's parameters, as ``ros2 param set`` does: (successful, reason).

        The node's own table decides (``Node.set_parameters``, which the rclpy host's callback calls too)."""
        node = self.node(node_name)
        prev, self._current = self._current, node
        try:
            return node.set_parameters(values)
        finally:
            self._current = prev

    def _forget(self, node):
        """Undo what a node that failed in setup() registered, so the graph stays as it was."""
        for table in (self.pubs, self.subs):
            for topic in list(table):
                table[topic] = [e for e in table[topic] if e.node is not node]
        self.services = {k: v for k, v in self.services.items() if v.node is not node}
        self.timers = [t for t in self.timers if t.node is not node]
        used = {t for table in (self.pubs, self.subs) for t, es in table.items() if es}
        used |= {t for r, topics in self.bags for t in r.topics if topics is None or t in topics}
        self.topic_types = {t: mt for t, mt in self.topic_types.items() if t in used}

    def add_bag_source(self, path, topics=None):
        """Replay a bag's messages (optionally only ``topics``) at their log times."""
        reader = BagReader(path, self.typestore)
        if topics is not None:
            missing = sorted(set(topics) - set(reader.topics))
            if missing:
                reader.close()
                raise GraphError('topic %s is not in bag %s (it has: %s)' % (', '.join(missing), reader.path,
                                                                          ', '.join(sorted(reader.topics))))
        for t in reader.topics.values():
            if topics is not None and t.name not in topics:
                continue
            self._set_type(t.name, t.msgtype, 'bag %s' % reader.path)
            raw_name = t.name[:-len(SUFFIX)]
            if t.msgtype == COMPRESSED and t.name.endswith(SUFFIX) and raw_name not in reader.topics:
                self._set_type(raw_name, IMAGE, 'bag %s' % reader.path)  # served decoded, see _bag_message
                self._decompressed[(id(reader), t.name)] = raw_name
        self.bags.append((reader, topics))
        return reader

    def capture(self, topic: str) -> list:
        """A list that fills with (t_ns, msg) for every message on ``topic`` during the run."""
        return self.captures[topic if topic.startswith('/') else '/' + topic]

    def _set_type(self, topic: str, msgtype: str, who: str):
        have = self.topic_types.get(topic)
        if have is None:
            if msgtype not in self.typestore.types and not who.startswith('bag'):
                raise GraphError('%s uses unknown message type %r on %s' % (who, msgtype, topic))
            self.topic_types[topic] = msgtype
        elif have != msgtype:
            raise GraphError('topic %s has type %s, but %s uses %s' % (topic, have, who, msgtype))

    def _resolve(self, node: Node, name: str) -> str:
        return resolve(name, self._remaps.get(id(node), {}))

    # ------------------------------------------------------------------ Host interface
    def create_publisher(self, node, decl):
        topic = self._resolve(node, decl.topic)
        self._set_type(topic, decl.msg_type, 'node %s' % node.name)
        pub = _Pub(node, topic, decl.msg_type, decl.qos)
        self.pubs[topic].append(pub)
        if self.writer is not None and not (self.image_format == 'jpeg' and decl.msg_type == IMAGE):
            self.writer.add_topic(topic, decl.msg_type, decl.qos)  # (JPEG: TOPIC/compressed, at the first image)
        return _Publisher(self, pub)

    def create_subscription(self, node, decl):
        topic = self._resolve(node, decl.topic)
        self._set_type(topic, decl.msg_type, 'node %s' % node.name)
        sub = _Sub(node, topic, decl.msg_type, decl.qos, decl.callback)
        self.subs[topic].append(sub)
        if decl.qos.durability == 'transient_local':  # late joiner gets what latched publishers kept
            for pub in self.pubs[topic]:
                for msg in pub.latched:
                    self._pending.append((pub, msg, sub))
        return sub

    def create_service(self, node, decl):
        name = self._resolve(node, decl.name)
        if name in self.services:
            raise GraphError('service %s is offered twice' % name)
        for suffix in ('_Request', '_Response'):
            if decl.srv_type + suffix not in self.typestore.types:
                raise GraphError('node %s offers unknown service type %r' % (node.name, decl.srv_type))
        svc = _Service(node, decl.srv_type, name, decl.callback, self)
        self.services[name] = svc
        return svc

    def create_timer(self, node, decl):
        period = int(round(decl.period_s * 1e9))
        start = self._now if self._now is not None else None
        timer = _Timer(node, period, decl.callback, (start + period) if start is not None else period)
        timer.relative = start is None  # first firing set when the clock starts
        self.timers.append(timer)
        return timer

    def new(self, msg_type, fields):
        try:
            return new_message(self.typestore, msg_type, fields)
        except MessageError as exc:
            raise MessageError('%s (in node %s)' % (exc, self._current.name if self._current else '?')) from exc

    def now_ns(self) -> int:
        return self._now if self._now is not None else DEFAULT_START_NS

    def log(self, node, level, text):
        getattr(log, {'warn': 'warning'}.get(level, level))('[%s] %s', node.name, text)

    def request_shutdown(self, node, reason):
        self._shutdown = '%s: %s' % (node.name, reason) if reason else node.name

    def call_service(self, name: str, request):
        """Call a service offered by a node in this host (synchronously)."""
        svc = self.services.get(name if name.startswith('/') else '/' + name)
        if svc is None:
            raise GraphError('no node offers service %s' % name)
        response = svc.call(request)
        self._drain()  # what the server published while answering (progress) is delivered before the call returns
        return response

    # ------------------------------------------------------------------ delivery
    def _publish(self, pub: _Pub, msg):
        if getattr(msg, '__msgtype__', pub.msgtype) != pub.msgtype:
            raise MessageError('node %s published a %s on %s, declared %s'
                               % (pub.node.name, msg.__msgtype__, pub.topic, pub.msgtype))
        if pub.qos.durability == 'transient_local':
            pub.latched.append(msg)
            while len(pub.latched) > pub.qos.depth:
                pub.latched.popleft()
        if self.writer is not None or self.sinks:
            raw = self.typestore.serialize_cdr(msg, pub.msgtype)
            if self.writer is not None:
                self._record(pub.topic, pub.msgtype, raw, msg, pub.qos)
            for sink in self.sinks:
                sink(pub.topic, pub.msgtype, self.now_ns(), raw)
        self._pending.append((pub, msg, None))

    def _deliver(self, topic: str, msg, offered: QoS | None, src: str, only: _Sub | None = None):
        self.counts[topic] += 1
        cap = self.captures.get(topic)
        if cap is not None and only is None:
            cap.append((self.now_ns(), msg))
        for sub in (self.subs.get(topic, ()) if only is None else (only,)):
            if offered is not None and not sub.qos.compatible_with(offered):
                key = (topic, sub.node.name, src)
                if key not in self.warned:
                    self.warned.add(key)
                    log.warning('[%s] incompatible QoS on %s: subscription requests %s/%s but %s offers %s/%s; '
                                'no messages are delivered (as in ROS 2)', sub.node.name, topic, sub.qos.reliability,
                                sub.qos.durability, src, offered.reliability, offered.durability)
                continue
            self._invoke(sub.node, sub.callback, msg)

    def _invoke(self, node: Node, callback: Callable, *args):
        stats = self.stats[node.name]
        prev, self._current = self._current, node
        t0 = time.perf_counter()
        try:
            return callback(*args)
        except Exception as exc:
            stats.errors += 1
            self.errors.append((node.name, repr(exc)))
            if self.strict:
                raise
            key = (node.name, type(exc).__name__)
            if key not in self.warned:
                self.warned.add(key)
                log.error('[%s] callback failed (further failures of this kind are counted, not shown):\n%s',
                          node.name, traceback.format_exc())
            return None
        finally:
            dt = time.perf_counter() - t0
            stats.calls += 1
            stats.total_s += dt
            stats.durations.append(dt)
            self._current = prev

    def _drain(self):
        while self._pending:
            pub, msg, only = self._pending.popleft()
            self._deliver(pub.topic, msg, pub.qos, 'node %s' % pub.node.name, only)

    # ------------------------------------------------------------------ the loop
    def _bag_events(self):
        """Merge all bag sources by log time: yields (t_ns, reader, topic, msgtype, raw)."""
        iters = []
        for k, (reader, topics) in enumerate(self.bags):
            iters.append(((t, k, reader, topic, mt, raw) for topic, mt, t, raw in reader.messages(topics)))
        for t, _k, reader, topic, mt, raw in heapq.merge(*iters, key=lambda e: (e[0], e[1])):
            yield t, reader, topic, mt, raw

    def start_time_ns(self) -> int:
        """Where the clock starts: the given start, else the first bag message, else a source node's own time
        (a flight log's ``start_time_ns``), else the wall clock when paced in real time (a live vehicle: stamps
        line up with its footage), else DEFAULT_START_NS (deterministic runs)."""
        if self._now is not None:
            return self._now
        if self.bags:
            starts = [r.start_ns for r, _ in self.bags if r.message_count]
            if starts:
                return min(starts)
        hints = [getattr(n, 'start_time_ns', None) for n in self.nodes]
        hints = [h for h in hints if isinstance(h, int)]
        if hints:
            return min(hints)
        if self.realtime:
            return time.time_ns()
        return DEFAULT_START_NS

    def run(self, until_ns: int | None = None, progress: bool = False, total_ns: int | None = None) -> str:
        """Run until the bags end, a node requests shutdown, or ``until_ns``. Returns why it stopped."""
        bag_events = self._bag_events() if self.bags else None
        nxt = next(bag_events, None) if bag_events else None
        if self._now is None:
            self._now = nxt[0] if nxt else self.start_time_ns()
        start = self._now
        for tm in self.timers:
            if getattr(tm, 'relative', False):
                tm.next_ns = start + tm.period_ns
                tm.relative = False
        self._drain()  # latched messages from setup
        heap = [(tm.next_ns, next(self._seq), tm) for tm in self.timers if not tm.cancelled]
        heapq.heapify(heap)
        known = len(self.timers)
        wall0 = time.monotonic()
        bar = None
        if progress:
            if total_ns is None and self.bags:
                total_ns = max(r.end_ns for r, _ in self.bags) - start
            if total_ns is None and until_ns is not None:
                total_ns = until_ns - start
            if total_ns is None:  # a source node (the simulator) may know how long its scenario lasts
                durations = [getattr(n, 'expected_duration_s', None) for n in self.nodes]
                durations = [d for d in durations if d]
                total_ns = int(max(durations) * 1e9) if durations else None
            bar = tqdm(total=round(total_ns / 1e9, 1) if total_ns else None, unit='s', desc='sim time',
                       bar_format='{l_bar}{bar}| {n:.1f}/{total_fmt} s [{elapsed}<{remaining}]')
        reason = 'no more events'
        try:
            while True:
                interrupts.check()  # Ctrl-C/SIGTERM, also when a library swallowed its KeyboardInterrupt
                if self._shutdown is not None:
                    reason = 'shutdown requested by %s' % self._shutdown
                    break
                if len(self.timers) > known:  # timers created during the run
                    for tm in self.timers[known:]:
                        heapq.heappush(heap, (tm.next_ns, next(self._seq), tm))
                    known = len(self.timers)
                t_timer = heap[0][0] if heap else None
                t_bag = nxt[0] if nxt else None
                if t_bag is None and bag_events is not None:
                    reason = 'end of input bag'
                    break
                if t_timer is None and t_bag is None:
                    break
                use_bag = t_bag is not None and (t_timer is None or t_bag <= t_timer)
                t = t_bag if use_bag else t_timer
                if until_ns is not None and t > until_ns:
                    reason = 'reached the end time'
                    break
                if self.realtime:
                    lag = (t - start) / 1e9 - (time.monotonic() - wall0)
                    if lag > 0:
                        time.sleep(lag)
                if bar is not None and t > self._now:
                    bar.update(round((t - self._now) / 1e9, 3))
                self._now = max(self._now, t)
                if use_bag:
                    _, reader, topic, msgtype, raw = nxt
                    self._bag_message(reader, topic, msgtype, raw)
                    nxt = next(bag_events, None)
                else:
                    _, _, tm = heapq.heappop(heap)
                    if not tm.cancelled:
                        self._invoke(tm.node, tm.callback)
                        tm.next_ns += tm.period_ns
                        heapq.heappush(heap, (tm.next_ns, next(self._seq), tm))
                self._drain()
        finally:
            if bar is not None:
                bar.close()
        self.stop_reason = reason
        return reason

    def _bag_message(self, reader: BagReader, topic: str, msgtype: str, raw):
        info = reader.topics[topic]
        if self.writer is not None and self.record_inputs:
            if self.image_format == 'jpeg' and msgtype == IMAGE:
                self._record(topic, msgtype, raw, reader.deserialize(raw, msgtype), info.qos)
            else:
                self.writer.add_topic(topic, msgtype, info.qos, msgdef=info.msgdef, rihs01=info.rihs01)
                self.writer.write(topic, self._now, bytes(raw))
        for sink in self.sinks:
            sink(topic, msgtype, self._now, raw, info.msgdef or None)
        if self.subs.get(topic) or topic in self.captures:
            msg = reader.deserialize(raw, msgtype)
            self._deliver(topic, msg, info.qos, 'bag %s' % reader.path)
        else:
            self.counts[topic] += 1
        raw_topic = self._decompressed.get((id(reader), topic))
        if raw_topic is not None and (self.subs.get(raw_topic) or raw_topic in self.captures):
            # a bag recorded with JPEG images: nodes that want TOPIC get it decoded from TOPIC/compressed
            try:
                img = from_compressed(self.new, reader.deserialize(raw, msgtype))
            except BadMessage as exc:
                self.counts['undecodable_images'] += 1
                if ('undecodable', topic) not in self.warned:
                    self.warned.add(('undecodable', topic))
                    log.warning('%s: %s (further ones counted)', topic, exc)
                return
            self._deliver(raw_topic, img, info.qos, 'bag %s' % reader.path)

    def _record(self, topic: str, msgtype: str, raw, msg, qos):
        """Write one message to the output bag; camera images as JPEG on TOPIC/compressed if asked."""
        if self.image_format == 'jpeg' and msgtype == IMAGE:
            comp = to_jpeg(self.new, msg, self.jpeg_quality)
            if comp is not None:
                topic, msgtype = topic + SUFFIX, COMPRESSED
                raw = self.typestore.serialize_cdr(comp, COMPRESSED)
        self.writer.add_topic(topic, msgtype, qos)
        self.writer.write(topic, self.now_ns(), raw)

    def close(self):
        """Close nodes, input bags and the output bag (always readable afterwards)."""
        with interrupts.deferred():  # a Ctrl-C/SIGTERM now must not cut the summary or metadata.yaml: raised after
            first = None
            for node in self.nodes:
                try:
                    node.close()
                except Exception as exc:  # one node's failure must not leave the bag open
                    first = first or exc
            for reader, _ in self.bags:
                reader.close()
            if self.writer is not None:
                try:
                    self._record_latency()
                finally:
                    self.writer.close()
            for sink in self.sinks:
                close = getattr(sink, 'close', None)
                if close is not None:
                    close()
        if first is not None and self.strict:
            raise first

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    LATENCY_TOPIC = '/diagnostics/latency'

    def _record_latency(self):
        """Write the per-node callback wall times into the bag (diagnostic_msgs), so reports read them from it."""
        rows = self.latency_table()
        if not rows or self.writer.closed:
            return
        status = [{'level': b'\x00', 'name': r['node'], 'message': 'callback wall time', 'hardware_id': 'offline_host',
                   'values': [{'key': k, 'value': '%.6g' % r[k]} for k in ('calls', 'mean_ms', 'p95_ms', 'errors')]}
                  for r in rows]
        msg = self.new('diagnostic_msgs/msg/DiagnosticArray', {
            'header': {'stamp': {'sec': self.now_ns() // 10**9, 'nanosec': self.now_ns() % 10**9}},
            'status': status})
        self.writer.add_topic(self.LATENCY_TOPIC, 'diagnostic_msgs/msg/DiagnosticArray', RELIABLE)
        self.writer.write(self.LATENCY_TOPIC, self.now_ns(),
                          self.typestore.serialize_cdr(msg, 'diagnostic_msgs/msg/DiagnosticArray'))

    def latency_table(self) -> list:
        """Per node: calls, mean wall time over the run and 95th percentile of the last KEEP_DURATIONS calls, in ms."""
        rows = []
        for name, s in sorted(self.stats.items()):
            d = np.asarray(s.durations) * 1e3 if s.durations else np.zeros(1)
            rows.append({'node': name, 'calls': s.calls, 'mean_ms': 1e3 * s.total_s / s.calls if s.calls else 0.0,
                         'p95_ms': float(np.percentile(d, 95)), 'errors': s.errors})
        return rows


__all__ = ['OfflineHost', 'GraphError', 'BagError', 'resolve', 'RELIABLE']
