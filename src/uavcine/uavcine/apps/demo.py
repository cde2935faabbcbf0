"""`uavcine demo` (`make demo`): the drone films shots in the embedded simulator, by itself.

For each shot of the demo (an ORBIT around a moving car, then a FLYBY of the tower line)
the onboard graph runs in the offline host — simulator -> detector -> tracker/manager ->
geopositioning -> camera pointing — and everything is recorded. Then the footage is
rendered with overlays and the run is scored from its bags:

    runs/<name>/<shot>/bag/          rosbag2 (MCAP) of every topic, readable by `ros2 bag`
    runs/<name>/<shot>.mp4           footage with boxes, state, quality, geoposition and its ellipse
    runs/<name>/media/<shot>/        keyframes, thumbnails and a summary clip (+ 9:16) from media_server
    runs/<name>/report.html          plots and tables (uavcine eval on the bags), and the media results
    runs/<name>/preview_vs_flown.png the shot preview of view_synthesis at the start of the ORBIT, beside the
                                     frames flown then (skip with --no-preview)
    runs/<name>/lead.png             the forecast shot (apps/lead_report.py): a braking, turning car and a walking
                                     person filmed with and without leading the target (its velocity): the forecast
                                     paths on the map and the pointing error (skip with --no-lead)
"""
from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from ..errors import UserError
from ..offline.graph import load_graph, load_params_file, merged_params, parse_overrides
from ..offline.host import OfflineHost

REPO = Path(__file__).resolve().parents[4]
#: The demo's shots: (name, scenario file, seconds). Each runs the same onboard graph. The flyby is the
#: seed's flight test cut to the pass along the towers (the scenario's own 75 s add a long approach).
SHOTS = [('orbit_car', 'sim/orbit_car.yaml', 25.0), ('flyby_towers', 'sim/flight_test_towers.yaml', 40.0)]
GRAPH = 'config/graphs/demo.yaml'
#: The shot previewed by view_synthesis (topic mode, once, at its start) for the report's "preview vs flown" strip.
PREVIEW_SHOT = 'orbit_car'
PREVIEW_VIEWS, PREVIEW_DURATION_S = 5, 5.0
PARAMS = 'config/demo.yaml'
#: The forecast shot's name for --shot (apps/lead_report.py: lead_eval's closed loop, not the onboard graph).
LEAD_SHOT = 'lead'
MARKER = '.uavcine_run'


def _repo_path(p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() or path.exists() else REPO / p


def run_shot(name: str, scenario: Path, duration_s: float, out_dir: Path, args) -> dict:
    entries = load_graph(_repo_path(args.graph))
    files = [load_params_file(_repo_path(args.params))] if args.params else []
    overrides = parse_overrides(args.param)
    overrides.setdefault('sim', {})['scenario'] = str(scenario)
    overrides['sim'].setdefault('duration_s', float(args.duration or duration_s))
    # The simulated compass, like a real one, reads magnetic north: the site's declination is part of the
    # onboard configuration (the scenario plays the site here).
    from ..sim import load_scenario
    scen = load_scenario(str(scenario))
    decl = scen.sensors.magnetic_declination_deg
    for node in ('geo', 'pointing'):
        overrides.setdefault(node, {}).setdefault('heading_is_magnetic', True)
        overrides[node].setdefault('declination_deg', float(decl))
    host = OfflineHost(out_dir / 'bag', strict=False, compression=getattr(args, 'compression', 'zstd'),
                       image_format=getattr(args, 'image_format', 'raw'), jpeg_quality=getattr(args, 'jpeg_quality', 90))
    live = None
    try:
        if args.live:
            from ..offline.live import FoxgloveLive  # lazy: start-up time: importing it loads foxglove
            live = FoxgloveLive(host.typestore, port=args.live_port)
            host.sinks.append(live)
        for e in entries:
            host.add_node(e.cls, merged_params(e, files, overrides), name=e.name, remap=e.remap)
        if name == PREVIEW_SHOT and not getattr(args, 'no_preview', False):
            from ..nodes.view_synthesis import ViewSynthesisNode  # lazy: only the previewed shot runs it
            host.add_node(ViewSynthesisNode, dict(preview_params(scen.shot), **overrides.get('view_synthesis', {})))
        t0 = time.perf_counter()
        print('[%s] %s' % (name, scenario.name))
        reason = host.run(progress=not args.no_progress)
        wall = time.perf_counter() - t0
    finally:
        host.close()
    return {'name': name, 'reason': reason, 'wall_s': wall, 'errors': list(host.errors),
            'latency': host.latency_table()}


def preview_params(shot) -> dict:
    """view_synthesis parameters that preview the scenario's shot (its ShotCfg) once, as soon as it can."""
    return {'preview_rate_hz': 2.0, 'preview_max': 1, 'preview_views': PREVIEW_VIEWS,
            'shot_duration_s': PREVIEW_DURATION_S, 'shot_type': shot.type, 'shot_radius_m': shot.distance_m,
            'shot_height_m': shot.altitude_m, 'shot_speed_mps': shot.speed_mps, 'shot_heading_deg': shot.heading_deg,
            'shot_start_angle_deg': shot.start_angle_deg, 'shot_direction': shot.direction, 'shot_side': shot.side,
            'shot_continue': True}


def cmd_demo(args) -> int:
    from ..eval.run_eval import evaluate, load_run, print_summary, write_report  # lazy: start-up time: importing it loads matplotlib
    from .video import render_video  # lazy: start-up time: importing it loads cv2
    out = Path(args.out) / args.name
    if out.exists():
        if not (out / MARKER).exists():
            raise UserError('%s exists and is not a uavcine run; choose another --name' % out)
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text('made by uavcine demo\n')
    shots = [(n, s, d) for n, s, d in SHOTS if not args.shot or n in args.shot]
    lead = not args.no_lead and (not args.shot or LEAD_SHOT in args.shot)
    if args.shot and LEAD_SHOT in args.shot and not shots:
        raise UserError('the %s shot is reported beside the graph shots: name one of them too (%s)' % (
            LEAD_SHOT, ', '.join(n for n, _, _ in SHOTS)))
    if not shots:
        raise UserError('no shot named %s (shots: %s)' % (', '.join(args.shot), ', '.join(
            [n for n, _, _ in SHOTS] + [LEAD_SHOT])))
    t0 = time.perf_counter()
    results = []
    for name, scen, duration in shots:
        scenario = _repo_path(scen)
        if not scenario.is_file():
            raise UserError('scenario not found: %s' % scenario)
        results.append(run_shot(name, scenario, duration, out / name, args))
    sim_wall = time.perf_counter() - t0
    runs = [load_run(out / n / 'bag') for n, _, _ in shots]
    metrics = [evaluate(r) for r in runs]
    names = [n for n, _, _ in shots]
    if not args.no_video:
        for n in names:
            frames = render_video(out / n / 'bag', out / ('%s.mp4' % n), progress=not args.no_progress)
            print('[%s] video: %s (%d frames)' % (n, out / ('%s.mp4' % n), frames))
    media = {}
    if not args.no_media:
        from .media_report import analyse_shot, section_html  # only when asked: --no-media skips its imports
        for n in names:
            media[n] = analyse_shot(out / n / 'bag', out / 'media' / n)
            for key, r in media[n].items():
                print('[%s] media %s: %s' % (n, key, r.message))
    extra = section_html(media, out) if media else ''
    if PREVIEW_SHOT in names and not args.no_preview:
        from .preview_report import section_html as preview_html  # lazy: imports matplotlib and torch
        t1 = time.perf_counter()
        part, line = preview_html(PREVIEW_SHOT, out / PREVIEW_SHOT / 'bag', out)
        extra += part
        print('[%s] %s (%.1f s)' % (PREVIEW_SHOT, line, time.perf_counter() - t1))
    if lead:
        from .lead_report import section_html as lead_html  # lazy: imports torch (SMEMO) and matplotlib
        part, lines = lead_html(out, REPO, duration_s=float(args.duration or 0.0))
        extra += part
        for text in lines:
            print('[forecast] %s' % text)
    report = write_report(metrics, runs, names, out, title='uavcine demo: %s' % ', '.join(names),
                          extra_html=extra)
    print()
    print_summary(metrics, names)
    total = time.perf_counter() - t0
    for r in results:
        print('[%s] stopped: %s; %.1f s wall' % (r['name'], r['reason'], r['wall_s']))
    print('graph runs %.1f s, with video and report %.1f s' % (sim_wall, total))
    print('report: %s' % report)
    failed = sum(len(r['errors']) for r in results)
    if failed:
        print('uavcine demo: %d node callbacks failed (see the log above)' % failed, file=sys.stderr)
        return 1
    return 0


def register(subparsers):
    p = subparsers.add_parser('demo', help='film the demo shots in the embedded simulator and report on them')
    p.add_argument('--name', default='demo', help='run name: results go to OUT/NAME (default: demo)')
    p.add_argument('--out', default='runs', help='runs directory (default: runs)')
    p.add_argument('--shot', nargs='+',
                   help='only these shots (%s)' % ', '.join([n for n, _, _ in SHOTS] + [LEAD_SHOT]))
    p.add_argument('--graph', default=GRAPH, help='node graph (default: %s)' % GRAPH)
    p.add_argument('--params', default=PARAMS, help='ROS 2 parameter file (default: %s)' % PARAMS)
    p.add_argument('-p', '--param', action='append', default=[], metavar='NODE.NAME=VALUE')
    p.add_argument('--duration', type=float, help='seconds of each shot (default: %s)' % ', '.join(
        '%s %.0f s' % (n, d) for n, _, d in SHOTS))
    p.add_argument('--no-video', action='store_true', help='skip the MP4 rendering')
    p.add_argument('--compression', choices=['zstd', 'none'], default='zstd', help='MCAP chunk compression of the bags')
    p.add_argument('--image-format', choices=['raw', 'jpeg'], default='raw',
                   help='record camera images raw or as sensor_msgs/CompressedImage JPEG (IMAGE_TOPIC/compressed)')
    p.add_argument('--jpeg-quality', type=int, default=90, help='JPEG quality with --image-format jpeg (1-100)')
    p.add_argument('--no-media', action='store_true', help='skip the media services (keyframes, thumbnails, summary)')
    p.add_argument('--no-preview', action='store_true',
                   help='skip the shot preview (view_synthesis) of %s and its "preview vs flown" strip' % PREVIEW_SHOT)
    p.add_argument('--no-lead', action='store_true',
                   help='skip the forecast shot (a car and a person filmed with and without leading by the forecast)')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--live', action='store_true', help='serve the topics to Foxglove while the demo runs')
    p.add_argument('--live-port', type=int, default=8765)
    p.set_defaults(func=cmd_demo)
    return p
