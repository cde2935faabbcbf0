"""The ``uavcine`` command.

Subcommands live here or in the module of what they run (``register(subparsers)``
hooks listed in PLUGINS). A user's mistake gives one line on stderr and exit
status 2; a run whose nodes failed exits 1; an interrupted run still closes its
output bag.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

PLUGINS = [
    'uavcine.sim.cli',
    'uavcine.eval.run_eval',
    'uavcine.apps.demo',
    'uavcine.eval.geo_eval',
    'uavcine.eval.track_eval',
    'uavcine.train.detr_train',
    'uavcine.train.detr_eval',
    'uavcine.train.siamfc_train',
]


from .errors import UserError  # noqa: E402  (one class, also when run as python -m uavcine.cli)


def _user_errors():
    """Exception types that mean 'the user gave something wrong', not 'uavcine is broken'."""
    from .nodes.base import ParamError
    out = [UserError, ParamError, FileNotFoundError, IsADirectoryError, PermissionError]
    try:
        from .offline.bag import BagError
        from .offline.graph import ConfigError
        from .offline.host import GraphError
        from .offline.messages import MessageError
        from .offline.typestore import InterfaceError
        out += [BagError, ConfigError, GraphError, MessageError, InterfaceError]
    except ImportError:  # offline extras (rosbags) not installed
        pass
    return tuple(out)


# ---------------------------------------------------------------------- replay / run
def _add_graph_args(p):
    p.add_argument('--graph', required=True, help='graph YAML: the nodes to run (see config/graphs/)')
    p.add_argument('--params', action='append', default=[], help='ROS 2 parameter YAML (repeatable)')
    p.add_argument('-p', '--param', action='append', default=[], metavar='NODE.NAME=VALUE',
                   help='override one parameter (repeatable)')
    p.add_argument('--out', help='output rosbag2 (MCAP): NAME.mcap writes the bag directory NAME/')
    p.add_argument('--realtime', action='store_true', help='pace the run to the wall clock')
    p.add_argument('--until', type=float, help='stop after this many seconds of simulated time')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--keep-going', action='store_true',
                   help='log failing callbacks and go on (exit 1 at the end) instead of stopping at the first')


def build_host(args, bag=None, topics=None):
    from .offline.graph import load_graph, load_params_file, merged_params, parse_overrides
    from .offline.host import OfflineHost
    entries = load_graph(args.graph)
    files = [load_params_file(f) for f in args.params]
    overrides = parse_overrides(args.param)
    unknown = sorted(set(overrides) - {e.name for e in entries})
    if unknown:
        raise UserError('-p names node %s, which is not in the graph' % ', '.join(unknown))
    host = OfflineHost(args.out, realtime=args.realtime, strict=not args.keep_going)
    try:
        for e in entries:
            host.add_node(e.cls, merged_params(e, files, overrides), name=e.name, remap=e.remap)
        if bag is not None:
            host.add_bag_source(bag, topics)
    except BaseException:
        host.close()
        raise
    return host


def run_host(host, args) -> int:
    until = _until_abs(host, args.until) if args.until is not None else None
    try:
        reason = host.run(until_ns=until, progress=not args.no_progress)
    except KeyboardInterrupt:
        reason = 'interrupted'
    finally:
        host.close()
    print('stopped: %s' % reason)
    for row in host.latency_table():
        print('  %-12s %6d calls  mean %7.2f ms  p95 %7.2f ms%s' % (
            row['node'], row['calls'], row['mean_ms'], row['p95_ms'],
            '  %d errors' % row['errors'] if row['errors'] else ''))
    if host.writer is not None:
        print('wrote %s (%d messages)' % (host.writer.path, sum(host.writer.counts.values())))
    if host.errors:
        print('uavcine: %d callbacks failed; first: %s: %s' % (len(host.errors), *host.errors[0]), file=sys.stderr)
        return 1
    return 130 if reason == 'interrupted' else 0


def _until_abs(host, seconds: float) -> int:
    from .offline.host import DEFAULT_START_NS
    start = DEFAULT_START_NS
    if host.bags:
        start = min(r.start_ns for r, _ in host.bags)
    return start + int(seconds * 1e9)


def cmd_replay(args) -> int:
    topics = args.topics or _graph_inputs(args.graph, args.bag)
    host = build_host(args, bag=args.bag, topics=topics)
    return run_host(host, args)


def _graph_inputs(graph, bag):
    """The graph file's ``inputs`` that the bag has (None: play every topic), as replay.launch.py plays them."""
    from .offline.bag import BagReader
    from .offline.graph import load_graph_topics
    from .offline.typestore import make_typestore
    inputs = load_graph_topics(graph, 'inputs')
    if inputs is None:
        return None
    reader = BagReader(bag, make_typestore())
    try:
        have = [t for t in inputs if t in reader.topics]
    finally:
        reader.close()
    if not have:
        raise UserError('bag %s has none of the input topics of graph %s (%s)' % (bag, graph, ', '.join(inputs)))
    return have


def cmd_run(args) -> int:
    return run_host(build_host(args), args)


# ---------------------------------------------------------------------- bag info
def cmd_bag_info(args) -> int:
    from .offline.bag import BagReader
    from .offline.typestore import make_typestore
    reader = BagReader(args.bag, make_typestore())
    try:
        dur = (reader.end_ns - reader.start_ns) / 1e9 if reader.message_count else 0.0
        print('bag:      %s' % reader.path)
        print('duration: %.3f s   messages: %d' % (dur, reader.message_count))
        if reader.message_count:
            print('start:    %.9f   end: %.9f' % (reader.start_ns / 1e9, reader.end_ns / 1e9))
        width = max([len(t) for t in reader.topics] + [5])
        for t in sorted(reader.topics.values(), key=lambda t: t.name):
            qos = '%s/%s' % (t.qos.reliability, t.qos.durability) if t.qos else '-'
            print('  %-*s  %-42s %7d  %s' % (width, t.name, t.msgtype, t.count, qos))
    finally:
        reader.close()
    return 0


# ---------------------------------------------------------------------- nodes
def cmd_nodes(args) -> int:
    from .nodes import REGISTRY, load_node_class
    from .nodes.base import param_specs
    names = [args.node] if args.node else sorted(REGISTRY)
    for name in names:
        try:
            cls = load_node_class(name)
        except (KeyError, ImportError, AttributeError) as exc:
            raise UserError(str(exc).strip('"')) from None
        print('%s  (%s)' % (name, REGISTRY.get(name, name)))
        for s in param_specs(cls.Params):
            rng = ''
            if s.min is not None or s.max is not None:
                rng = ' [%s, %s]' % (s.min, s.max)
            if s.choices:
                rng = ' {%s}' % ', '.join(map(str, s.choices))
            print('  %-24s %-11s %-20r %s%s' % (s.name, s.type, s.default, s.description, rng))
    return 0


# ---------------------------------------------------------------------- main
BUILTIN = ('replay', 'run', 'bag', 'nodes')


def make_parser(argv=None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='uavcine', description='Autonomous UAV cinematography tools.')
    parser.add_argument('-v', '--verbose', action='store_true', help='debug logging')
    sub = parser.add_subparsers(dest='cmd', metavar='COMMAND')
    sub.required = True

    p = sub.add_parser('replay', help='run a node graph on a recorded bag, write the outputs to a new bag')
    p.add_argument('bag', help='input bag (rosbag2 directory, its .mcap/.db3 file, or a ROS 1 .bag)')
    p.add_argument('--topics', nargs='+', help='replay only these input topics (default: the graph file\'s '
                   '"inputs:", else every topic)')
    _add_graph_args(p)
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser('run', help='run a node graph whose sources are nodes (e.g. the simulator)')
    _add_graph_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser('bag', help='bag tools')
    bsub = p.add_subparsers(dest='bagcmd', metavar='BAGCOMMAND')
    bsub.required = True
    q = bsub.add_parser('info', help='topics, types, counts, duration and QoS of a bag')
    q.add_argument('bag')
    q.set_defaults(func=cmd_bag_info)

    p = sub.add_parser('nodes', help='list the nodes and their parameters')
    p.add_argument('node', nargs='?')
    p.set_defaults(func=cmd_nodes)

    argv = sys.argv[1:] if argv is None else argv
    first = next((a for a in argv if not a.startswith('-')), None)
    plugins = [] if first in BUILTIN else PLUGINS  # plugins may import torch: only load them when needed
    for mod in plugins:
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name and mod.startswith(exc.name):
                continue  # that part of uavcine is not written yet
            raise
        if hasattr(m, 'register'):  # a module still being written may not offer its subcommand yet
            m.register(sub)
    return parser


def main(argv=None) -> int:
    parser = make_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                         format='%(levelname)s %(message)s')
    try:
        return int(args.func(args) or 0)
    except _user_errors() as exc:
        print('uavcine: error: %s' % exc, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('uavcine: interrupted', file=sys.stderr)
        return 130
    except BrokenPipeError:  # `uavcine nodes | head`
        sys.stderr.close()
        return 0


if __name__ == '__main__':
    sys.exit(main())
