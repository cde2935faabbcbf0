"""The ``uavcine`` command.

Subcommands live here or in the module of what they run: each such module has a
``register(subparsers)`` hook, called explicitly in ``make_parser`` (a broken one
fails loudly). A user's mistake (any ``UserError``) gives one line on stderr and
exit status 2 (``-v``: the traceback with its chained cause); a run whose nodes
failed exits 1; an interrupted run still closes its output bag.
"""
from __future__ import annotations

import argparse
import logging
import sys
import traceback

from .errors import Terminated, UserError  # one class each, also when run as python -m uavcine.cli
from .offline import interrupts


def _user_errors():
    """Exception types that mean 'the user gave something wrong', not 'uavcine is broken'."""
    return (UserError, FileNotFoundError, IsADirectoryError, PermissionError)


# ---------------------------------------------------------------------- replay / run
def _add_graph_args(p):
    p.add_argument('--graph', required=True, help='graph YAML: the nodes to run (see config/graphs/)')
    p.add_argument('--params', action='append', default=[], help='ROS 2 parameter YAML (repeatable)')
    p.add_argument('-p', '--param', action='append', default=[], metavar='NODE.NAME=VALUE',
                   help='override one parameter (repeatable)')
    p.add_argument('--out', help='output rosbag2 (MCAP): NAME.mcap writes the bag directory NAME/')
    p.add_argument('--realtime', action='store_true', help='pace the run to the wall clock')
    p.add_argument('--compression', choices=['zstd', 'none'], default='zstd',
                   help='MCAP chunk compression of the output bag (default zstd; ros2 bag reads both)')
    p.add_argument('--image-format', choices=['raw', 'jpeg'], default='raw',
                   help='record sensor_msgs/Image topics raw, or as CompressedImage JPEG on TOPIC/compressed')
    p.add_argument('--jpeg-quality', type=int, default=90, help='JPEG quality for --image-format jpeg (1-100)')
    p.add_argument('--until', type=float, help='stop after this many seconds of simulated time')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    p.add_argument('--keep-going', action='store_true',
                   help='log failing callbacks and go on (exit 1 at the end) instead of stopping at the first')


def cmd_replay(args) -> int:
    from .offline.run import build_host, run_host  # rosbags: only for the subcommands that run a host
    topics = args.topics or _graph_inputs(args.graph, args.bag)
    host = build_host(args, bag=args.bag, topics=topics)
    return run_host(host, args)


def _graph_inputs(graph, bag):
    """The graph file's ``inputs`` that the bag has (None: play every topic), as replay.launch.py plays them."""
    from .offline.bag import BagReader  # rosbags: only for the subcommands that run a host
    from .offline.graph import load_graph_topics  # rosbags: only for the subcommands that run a host
    from .offline.typestore import make_typestore  # rosbags: only for the subcommands that run a host
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
    from .offline.run import build_host, run_host  # rosbags: only for the subcommands that run a host
    return run_host(build_host(args), args)


# ---------------------------------------------------------------------- bag info
def cmd_bag_info(args) -> int:
    from .offline.bag import BagReader  # lazy: rosbags loads after main() handles Ctrl-C (see main)
    from .offline.typestore import make_typestore  # lazy: rosbags, as above
    reader = BagReader(args.bag, make_typestore(), recover=True)
    try:
        if reader.recovered:
            print('note:     %s; `uavcine bag reindex` rewrites it whole' % reader.recovered)
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


def cmd_bag_reindex(args) -> int:
    from .offline.bag import reindex  # lazy: rosbags loads after main() handles Ctrl-C (see main)
    from .offline.typestore import make_typestore  # lazy: rosbags, as above
    print(reindex(args.bag, make_typestore()))
    return 0


# ---------------------------------------------------------------------- nodes
def cmd_nodes(args) -> int:
    from .nodes import REGISTRY, load_node_class  # lazy: loaded after main() handles Ctrl-C (see main)
    from .nodes.base import param_specs  # lazy: as above
    names = [args.node] if args.node else sorted(REGISTRY)
    for name in names:
        try:
            cls = load_node_class(name)
        except (KeyError, ImportError, AttributeError) as exc:
            raise UserError(str(exc).strip('"')) from exc
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
    q = bsub.add_parser('reindex', help='rewrite a bag whose recorder was killed (no summary/metadata.yaml) from '
                                        'its complete chunks, as ros2 bag reindex does')
    q.add_argument('bag')
    q.set_defaults(func=cmd_bag_reindex)

    p = sub.add_parser('nodes', help='list the nodes and their parameters')
    p.add_argument('node', nargs='?')
    p.set_defaults(func=cmd_nodes)

    argv = sys.argv[1:] if argv is None else argv
    first = next((a for a in argv if not a.startswith('-')), None)
    if first not in BUILTIN:
        for register in _subcommands():
            register(sub)
    return parser


def _subcommands():
    """The subcommands of the other modules, explicitly. Imported here, not at the top: they load torch, cv2
    and matplotlib, which ``uavcine nodes`` and ``bag info`` do not need (start-up time)."""
    from .apps import demo  # lazy: start-up time: importing it loads torch, cv2
    from .apps import gesture_demo  # lazy: start-up time: importing it loads torch, matplotlib
    from .eval import geo_eval, run_eval  # lazy: start-up time: importing it loads torch, matplotlib
    from .sim import cli as sim_cli  # lazy: start-up time: importing it loads cv2, the renderer
    from .eval import nvs_gap  # lazy: start-up time: importing it loads torch, scikit-image
    # track_eval, detr_train, detr_eval and siamfc_train run as python -m uavcine.<module> (their own parsers)
    return [sim_cli.register, run_eval.register, demo.register, geo_eval.register,
            gesture_demo.register, nvs_gap.register]


def main(argv=None) -> int:
    """Ctrl-C and SIGTERM (kill, timeout, systemd, docker stop) stop a run at its next event and close its
    bag: exit 130 and 143. The handlers come first, before the heavy imports (rosbags, the nodes, pymavlink),
    so a signal during start-up is an interruption too (see uavcine.offline.interrupts for why Python's
    own KeyboardInterrupt is not enough)."""
    restore = interrupts.install()
    try:
        code = _main(argv)
        signum = interrupts.received()  # a stop that a library swallowed still gives the signal's status
        return interrupts.EXIT_STATUS[signum] if code == 0 and signum is not None else code
    except Terminated:
        print('uavcine: terminated', file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print('uavcine: interrupted', file=sys.stderr)
        return 130
    finally:
        restore()


def _main(argv) -> int:
    parser = make_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format='%(levelname)s %(message)s')
    try:
        return int(args.func(args) or 0)
    except _user_errors() as exc:
        if args.verbose:
            traceback.print_exc()  # with the chained cause
        print('uavcine: error: %s' % exc, file=sys.stderr)
        return 2
    except BrokenPipeError:  # `uavcine nodes | head`
        sys.stderr.close()
        return 0


if __name__ == '__main__':
    sys.exit(main())
