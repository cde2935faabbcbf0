"""Score a run from its bag: tracking against the truth, geoposition error against range, the manager's
states over time and the latency of every node — the numbers of `make demo`'s report, for any bag
that has the topics (simulator, AirSim, or a labelled flight).

    uavcine eval BAG [--out DIR]          one run: report.html + plots + metrics.json
    uavcine eval A B [--out DIR]          two runs side by side

Missing pieces do not stop it: a bag without ground truth gives the manager timeline and latency
only, a bag without telemetry no geoposition section, a truncated bag the part before the damage;
each omission is said in the report and on the command line.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pymap3d
from scipy.stats import spearmanr

from ..core.box_ops import centre_error, iou_xywh
from ..core.manager import STATE_NAMES
from ..offline.bag import BagReader
from ..offline.typestore import make_typestore
from .metrics import (PRECISION_THRESHOLDS, SUCCESS_THRESHOLDS, inside_ellipse, precision_at, precision_curve,
                      success_auc, success_curve)

TOPICS = {
    'image': '/camera/image_raw',
    'track': '/target/track',
    'geo': '/target/geo',
    'fix': '/vehicle/fix',
    'truth': '/truth/targets',
    'camera_pose': '/truth/camera_pose',
    'latency': '/diagnostics/latency',
}
RANGE_BINS = [(0, 60), (60, 100), (100, 150), (150, 200)]
#: A truth box counts for tracking when at least this share of the target is visible.
MIN_VISIBILITY = 0.3


@dataclass
class RunData:
    """What the evaluation needs from a bag, as arrays (stamps in ns)."""

    path: str
    image_stamps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    tracks: list = field(default_factory=list)   # dict(stamp, box, quality, state, track_id, class_id)
    geos: list = field(default_factory=list)     # dict(stamp, enu, cov, range, bearing, flags, lat, lon)
    fixes: list = field(default_factory=list)    # dict(stamp, lat, lon, alt)
    truth: dict = field(default_factory=dict)    # stamp -> list of dict(id, cls, box, visibility, truncated, enu, target)
    camera_enu: dict = field(default_factory=dict)  # stamp -> ENU position of the camera (truth)
    latency: list = field(default_factory=list)  # dict(node, calls, mean_ms, p95_ms)
    notes: list = field(default_factory=list)    # what is missing or damaged, said to the user


def _stamp(h) -> int:
    return int(h.stamp.sec) * 1_000_000_000 + int(h.stamp.nanosec)


def _truth_targets(msg) -> list:
    out = []
    for t in msg.targets:
        box = None
        if t.in_view and t.bbox.size_x > 0 and t.bbox.size_y > 0:
            box = (t.bbox.center.position.x - t.bbox.size_x / 2, t.bbox.center.position.y - t.bbox.size_y / 2,
                   t.bbox.size_x, t.bbox.size_y)
        out.append({'id': int(t.id), 'cls': t.class_id, 'box': box, 'visibility': float(t.visibility),
                    'truncated': bool(t.truncated), 'target': not bool(t.distractor),
                    'enu': np.array([t.position_enu.x, t.position_enu.y, t.position_enu.z]),
                    'geo': (t.geodetic.latitude, t.geodetic.longitude, t.geodetic.altitude)})
    return out


def load_run(path) -> RunData:
    """Read a bag into RunData; a truncated MCAP is read up to the damage (said in ``notes``)."""
    reader = BagReader(path, make_typestore(), recover=True)
    run = RunData(str(reader.path))
    if reader.recovered:
        run.notes.append(reader.recovered)
    wanted = {v: k for k, v in TOPICS.items()}
    wanted[TOPICS['image'] + '/compressed'] = 'image'  # bags recorded with JPEG images (CompressedImage)
    present = set(reader.topics)
    images = []
    try:
        for topic, msgtype, t_ns, raw in reader.messages([t for t in present if t in wanted]):
            kind = wanted[topic]
            try:
                msg = reader.deserialize(raw, msgtype)
            except Exception as exc:  # one damaged message must not lose the report
                run.notes.append('skipped an undecodable %s message: %s' % (topic, exc))
                continue
            if kind == 'image':
                images.append(_stamp(msg.header))
            elif kind == 'track':
                b = msg.bbox
                box = (b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2, b.size_x, b.size_y)
                run.tracks.append({'stamp': _stamp(msg.header), 'box': box if b.size_x > 0 else None,
                                   'quality': float(msg.quality), 'state': int(msg.state),
                                   'track_id': int(msg.track_id), 'class_id': msg.class_id})
            elif kind == 'geo':
                c = np.asarray(msg.covariance_enu_xy, float).reshape(2, 2)
                run.geos.append({'stamp': _stamp(msg.header), 'enu': np.array([msg.position_enu.x, msg.position_enu.y]),
                                 'cov': c, 'range': float(msg.range_m), 'flags': int(msg.flags),
                                 'lat': float(msg.geodetic.latitude), 'lon': float(msg.geodetic.longitude),
                                 'alt': float(msg.geodetic.altitude)})
            elif kind == 'fix':
                run.fixes.append({'stamp': _stamp(msg.header), 'lat': msg.latitude, 'lon': msg.longitude})
            elif kind == 'truth':
                run.truth[_stamp(msg.header)] = _truth_targets(msg)
            elif kind == 'camera_pose':
                p = msg.pose.position
                run.camera_enu[_stamp(msg.header)] = np.array([p.x, p.y, p.z])
            elif kind == 'latency':
                for st in msg.status:
                    vals = {kv.key: kv.value for kv in st.values}
                    run.latency.append({'node': st.name, 'calls': int(vals.get('calls', 0)),
                                        'mean_ms': float(vals.get('mean_ms', 'nan')),
                                        'p95_ms': float(vals.get('p95_ms', 'nan'))})
    except Exception as exc:  # the reader's BagError for damage found mid-way: keep what came before
        run.notes.append(str(exc))
    finally:
        reader.close()
    run.image_stamps = np.array(sorted(images), dtype=np.int64)
    # one Track per image: the manager may publish again for the same image (a detection that came in late)
    last = {t['stamp']: t for t in run.tracks}
    run.tracks = [last[s] for s in sorted(last)]
    for kind in ('image', 'track', 'truth', 'geo', 'fix', 'latency'):
        if TOPICS[kind] not in present:
            run.notes.append('no %s topic (%s) in the bag: %s' % (kind, TOPICS[kind], {
                'image': 'frame counts unknown', 'track': 'no tracking section',
                'truth': 'no ground truth, so no accuracy numbers', 'geo': 'no geoposition section',
                'fix': 'no vehicle telemetry (geopositioning had none either)',
                'latency': 'no per-node latency (recorded by the offline host)'}[kind]))
    return run


# ---------------------------------------------------------------------- metrics
def target_truth(run: RunData, stamp: int, box=None):
    """The truth of the target being filmed at an image stamp.

    Among the shot's targets (not distractors) visible enough to count: the one the box
    overlaps most when a box is given (a line of towers: whichever tower is tracked),
    else the most visible. Distractors are never the target: tracking one scores IoU 0.
    """
    cands = [t for t in run.truth.get(stamp, ()) if t['target'] and t['box'] is not None
             and t['visibility'] >= MIN_VISIBILITY]
    if not cands:
        return None
    if box is not None and np.all(np.isfinite(box)):
        return max(cands, key=lambda t: float(iou_xywh(box, t['box'])[0]))
    return max(cands, key=lambda t: (t['visibility'], t['box'][2] * t['box'][3]))


def in_truth_frame(g: dict, gt: dict) -> np.ndarray:
    """An estimate's position in the truth's local ENU frame.

    The geo node anchors its own ENU frame (at the first fix); the simulator anchors another. Both
    publish WGS84, so the estimate is placed by its geodetic offset from the truth target.
    """
    d = pymap3d.geodetic2enu(g['lat'], g['lon'], g['alt'], *gt['geo'])
    return gt['enu'] + np.array(d)


def tracking_metrics(run: RunData) -> dict:
    if not run.tracks or not run.truth:
        return {}
    ious, errs, quals, times, states = [], [], [], [], []
    for tr in run.tracks:
        has_box = tr['box'] is not None and tr['state'] in (2, 3)
        box = tr['box'] if has_box else (np.nan,) * 4
        gt = target_truth(run, tr['stamp'], box)
        if gt is None:
            continue
        ious.append(float(iou_xywh(box, gt['box'])[0]))
        errs.append(float(centre_error(box, gt['box'])[0]))
        quals.append(tr['quality'] if has_box else np.nan)
        times.append(tr['stamp'])
        states.append(tr['state'])
    if not ious:
        return {'frames': 0}
    ious, errs, quals = np.array(ious), np.array(errs), np.array(quals)
    ok = np.isfinite(quals)
    rho = float('nan')
    if ok.sum() >= 5 and np.std(quals[ok]) > 0 and np.std(ious[ok]) > 0:
        rho = float(spearmanr(quals[ok], ious[ok]).correlation)
    return {'frames': int(ious.size), 'success_auc': success_auc(ious), 'precision_20px': precision_at(errs, 20),
            'mean_iou': float(ious.mean()), 'tracked_share': float(np.mean([s == 2 for s in states])),
            'quality_iou_spearman': rho, 'success_curve': success_curve(ious).tolist(),
            'precision_curve': precision_curve(errs).tolist(),
            '_ious': ious, '_quals': quals, '_times': np.array(times)}


def manager_metrics(run: RunData) -> dict:
    if not run.tracks:
        return {}
    states = np.array([t['state'] for t in run.tracks])
    share = {STATE_NAMES.get(s, str(s)): float(np.mean(states == s)) for s in sorted(set(states.tolist()))}
    before = np.r_[0, states[:-1]]  # the run starts with no track
    acquisitions = int(np.sum((states == 2) & (before != 2) & (before != 3)))
    return {'messages': int(states.size), 'state_share': share, 'acquisitions': acquisitions,
            'track_ids': len({t['track_id'] for t in run.tracks if t['state'] in (2, 3)})}


def geo_metrics(run: RunData) -> dict:
    if not run.geos or not run.truth:
        return {}
    errs, ranges, inside = [], [], []
    boxes = {t['stamp']: t['box'] for t in run.tracks if t['box'] is not None}
    for g in run.geos:
        box = boxes.get(g['stamp'])  # the box this estimate was made from (same image stamp)
        gt = target_truth(run, g['stamp'], box) if box is not None else None
        cam = run.camera_enu.get(g['stamp'])
        if gt is None:
            continue
        e = in_truth_frame(g, gt)[:2] - gt['enu'][:2]
        errs.append(float(np.hypot(*e)))
        ranges.append(float(np.hypot(*(gt['enu'][:2] - cam[:2]))) if cam is not None else g['range'])
        try:
            inside.append(bool(inside_ellipse(e, g['cov'])[0]))
        except np.linalg.LinAlgError:
            inside.append(False)
    if not errs:
        return {'estimates': 0}
    errs, ranges, inside = np.array(errs), np.array(ranges), np.array(inside)
    rows = []
    for lo, hi in RANGE_BINS + [(200, math.inf)]:
        m = (ranges >= lo) & (ranges < hi)
        if m.any():
            rows.append({'bin': '%d-%s m' % (lo, 'inf' if hi == math.inf else int(hi)), 'n': int(m.sum()),
                         'median_m': float(np.median(errs[m])), 'p95_m': float(np.percentile(errs[m], 95)),
                         'ellipse95': float(inside[m].mean())})
    return {'estimates': int(errs.size), 'median_m': float(np.median(errs)), 'p95_m': float(np.percentile(errs, 95)),
            'ellipse95': float(inside.mean()), 'by_range': rows, '_errs': errs, '_ranges': ranges}


def evaluate(run: RunData) -> dict:
    return {'bag': run.path, 'images': int(run.image_stamps.size), 'tracking': tracking_metrics(run),
            'manager': manager_metrics(run), 'geo': geo_metrics(run), 'latency': run.latency, 'notes': run.notes}


def public(metrics: dict) -> dict:
    """Metrics without the private arrays (for JSON)."""
    if isinstance(metrics, dict):
        return {k: public(v) for k, v in metrics.items() if not k.startswith('_')}
    if isinstance(metrics, list):
        return [public(v) for v in metrics]
    return metrics


# ---------------------------------------------------------------------- plots and report
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=100, bbox_inches='tight')
    import matplotlib.pyplot as plt  # lazy: matplotlib: start-up time, only for the figures
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plots(runs: list, names: list, out_dir: Path) -> dict:
    """PNG plots (also written to out_dir) keyed by name, as base64 for the HTML report."""
    import matplotlib  # lazy: matplotlib: start-up time, only for the figures
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib: start-up time, only for the figures
    figs = {}
    colours = ['tab:blue', 'tab:orange']
    if any(m['geo'].get('estimates') for _, m in runs):
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for (run, m), name, c in zip(runs, names, colours):
            g = m['geo']
            if g.get('estimates'):
                ax.scatter(g['_ranges'], g['_errs'], s=6, alpha=0.5, color=c, label=name)
        ax.set_xlabel('true range drone -> target (m)')
        ax.set_ylabel('horizontal error (m)')
        ax.set_title('Geoposition error against range')
        ax.grid(alpha=0.3)
        ax.legend()
        figs['geo_error_vs_range'] = fig
    if any(m['tracking'].get('frames') for _, m in runs):
        fig, axes = plt.subplots(len(runs), 1, figsize=(9, 2.6 * len(runs)), squeeze=False)
        for ax, (run, m), name in zip(axes[:, 0], runs, names):
            t = m['tracking']
            if not t.get('frames'):
                continue
            x = (t['_times'] - t['_times'][0]) / 1e9
            ax.plot(x, t['_ious'], lw=1, label='IoU with truth')
            ax.plot(x, t['_quals'], lw=1, label='tracker quality')
            st = np.array([tr['state'] for tr in run.tracks])
            ts = (np.array([tr['stamp'] for tr in run.tracks]) - t['_times'][0]) / 1e9
            for s, col in ((1, 'tab:red'), (3, 'tab:olive'), (4, 'black')):
                ax.fill_between(ts, 0, 1, where=st == s, color=col, alpha=0.12, step='post',
                                label='%s' % STATE_NAMES[s])
            ax.set_ylim(0, 1.02)
            ax.set_title('%s: IoU and quality over time (shaded: manager state)' % name)
            ax.set_xlabel('time (s)')
            ax.legend(loc='lower left', fontsize=7, ncol=5)
        fig.tight_layout()
        figs['iou_quality_time'] = fig
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        for (run, m), name, c in zip(runs, names, colours):
            t = m['tracking']
            if t.get('frames'):
                axes[0].plot(SUCCESS_THRESHOLDS, t['success_curve'], color=c,
                             label='%s AUC %.3f' % (name, t['success_auc']))
                axes[1].plot(PRECISION_THRESHOLDS, t['precision_curve'], color=c,
                             label='%s @20px %.3f' % (name, t['precision_20px']))
        axes[0].set_xlabel('IoU threshold')
        axes[0].set_title('Success plot')
        axes[1].set_xlabel('centre error threshold (px)')
        axes[1].set_title('Precision plot')
        for ax in axes:
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        figs['success_precision'] = fig
    if any(run.tracks for run, _ in runs):
        fig, ax = plt.subplots(figsize=(9, 0.9 + 0.7 * len(runs)))
        for k, ((run, m), name) in enumerate(zip(runs, names)):
            st = np.array([tr['state'] for tr in run.tracks])
            ts = np.array([tr['stamp'] for tr in run.tracks])
            ts = (ts - ts[0]) / 1e9
            cols = {0: 'lightgrey', 1: 'tab:red', 2: 'tab:green', 3: 'tab:olive', 4: 'black'}
            for i in range(len(st)):
                w = (ts[i + 1] - ts[i]) if i + 1 < len(ts) else 0.1
                ax.barh(k, w, left=ts[i], color=cols.get(int(st[i]), 'grey'), height=0.6)
        ax.set_yticks(range(len(runs)))
        ax.set_yticklabels(names)
        ax.set_xlabel('time (s)')
        ax.set_title('Manager state: red detecting, green tracking, olive occluded, black lost')
        figs['state_timeline'] = fig
    if any(run.latency for run, _ in runs):
        fig, ax = plt.subplots(figsize=(7, 3))
        width = 0.8 / len(runs)
        for k, ((run, m), name, c) in enumerate(zip(runs, names, colours)):
            nodes = [r['node'] for r in run.latency]
            ax.bar(np.arange(len(nodes)) + k * width, [r['mean_ms'] for r in run.latency], width, color=c,
                   label='%s mean' % name)
            ax.scatter(np.arange(len(nodes)) + k * width, [r['p95_ms'] for r in run.latency], color='k', s=10,
                       zorder=3, label='p95' if k == 0 else None)
            ax.set_xticks(np.arange(len(nodes)) + width * (len(runs) - 1) / 2)
            ax.set_xticklabels(nodes)
        ax.set_ylabel('ms per callback')
        ax.set_title('Latency per node (wall time of callbacks)')
        ax.legend(fontsize=8)
        figs['latency'] = fig
    if any(run.geos for run, _ in runs) and any(run.truth for run, _ in runs):
        fig, ax = plt.subplots(figsize=(6, 6))
        for (run, m), name, c in zip(runs, names, colours):
            ref = next((t for ts in run.truth.values() for t in ts), None)  # any truth: ties the two frames
            est = (np.array([in_truth_frame(g, ref)[:2] for g in run.geos]) if run.geos and ref is not None
                   else np.zeros((0, 2)))
            ax.scatter(est[:, 0], est[:, 1], s=5, color=c, alpha=0.5, label='%s estimates' % name)
            ids = sorted({t['id'] for ts in run.truth.values() for t in ts if t['target']})
            for k, tid in enumerate(ids):
                tru = np.array([t['enu'][:2] for s in sorted(run.truth) for t in run.truth[s] if t['id'] == tid])
                if len(tru) and np.ptp(tru, axis=0).max() > 0.5:
                    ax.plot(tru[:, 0], tru[:, 1], 'k-', lw=1.5, label='%s truth' % name if k == 0 else None)
                elif len(tru):
                    ax.plot(tru[:1, 0], tru[:1, 1], 'k^', ms=8, label='%s truth' % name if k == 0 else None)
            cams = np.array([run.camera_enu[s][:2] for s in sorted(run.camera_enu)])
            if cams.size:
                ax.plot(cams[:, 0], cams[:, 1], '--', color=c, lw=1, label='%s drone' % name)
        ax.set_aspect('equal', adjustable='datalim')
        ax.set_xlabel('east (m)')
        ax.set_ylabel('north (m)')
        ax.set_title('Target estimates and truth (local ENU)')
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        figs['map'] = fig
    out_dir.mkdir(parents=True, exist_ok=True)
    encoded = {}
    for name, fig in figs.items():
        fig.savefig(out_dir / ('%s.png' % name), dpi=100, bbox_inches='tight')
        encoded[name] = _png(fig)
    return encoded


def _fmt(v, pct=False):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return '-'
    if pct:
        return '%.1f%%' % (100 * v)
    return '%.3f' % v if isinstance(v, float) else str(v)


def summary_rows(m: dict) -> list:
    t, g, mg = m['tracking'], m['geo'], m['manager']
    return [
        ('images', m['images'], False),
        ('tracking frames scored', t.get('frames'), False),
        ('success AUC', t.get('success_auc'), False),
        ('precision @20 px', t.get('precision_20px'), True),
        ('mean IoU', t.get('mean_iou'), False),
        ('frames in TRACKING', t.get('tracked_share'), True),
        ('Spearman(quality, IoU)', t.get('quality_iou_spearman'), False),
        ('detector -> tracker acquisitions', mg.get('acquisitions'), False),
        ('geo estimates scored', g.get('estimates'), False),
        ('geo median error (m)', g.get('median_m'), False),
        ('geo 95th pct error (m)', g.get('p95_m'), False),
        ('truth inside 95% ellipse', g.get('ellipse95'), True),
    ]


def write_report(metrics_list: list, runs: list, names: list, out_dir: Path, title: str = 'uavcine run',
                 extra_html: str = '') -> Path:
    """report.html (+ metrics.json); ``extra_html`` is appended as it is (the demo's media section)."""
    out_dir = Path(out_dir)
    imgs = plots(list(zip(runs, metrics_list)), names, out_dir)
    esc = html.escape
    parts = ['<!doctype html><html><head><meta charset="utf-8"><title>%s</title><style>'
             'body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}'
             'table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}'
             'th{background:#f0f0f0}td:first-child{text-align:left}.note{color:#a40}</style></head><body>' % esc(title),
             '<h1>%s</h1>' % esc(title)]
    parts.append('<p>Bag%s: %s. Every number below is computed from the bag by <code>uavcine eval</code>.</p>'
                 % ('s' if len(runs) > 1 else '', ', '.join('<code>%s</code>' % esc(r.path) for r in runs)))
    for name, m in zip(names, metrics_list):
        for note in m['notes']:
            parts.append('<p class="note">%s: %s</p>' % (esc(name), esc(note)))
    parts.append('<h2>Summary</h2><table><tr><th>metric</th>%s</tr>' % ''.join('<th>%s</th>' % esc(n) for n in names))
    rows = [summary_rows(m) for m in metrics_list]
    for i, (label, _, pct) in enumerate(rows[0]):
        parts.append('<tr><td>%s</td>%s</tr>' % (esc(label), ''.join('<td>%s</td>' % _fmt(r[i][1], pct) for r in rows)))
    parts.append('</table>')
    for name, m in zip(names, metrics_list):
        if m['geo'].get('by_range'):
            parts.append('<h3>%s: geoposition error by range</h3><table><tr><th>range</th><th>n</th><th>median (m)</th>'
                         '<th>95th pct (m)</th><th>inside 95%% ellipse</th></tr>' % esc(name))
            for r in m['geo']['by_range']:
                parts.append('<tr><td>%s</td><td>%d</td><td>%.2f</td><td>%.2f</td><td>%.1f%%</td></tr>'
                             % (r['bin'], r['n'], r['median_m'], r['p95_m'], 100 * r['ellipse95']))
            parts.append('</table>')
        if m['manager'].get('state_share'):
            parts.append('<h3>%s: time share of manager states</h3><p>%s</p>' % (esc(name), ', '.join(
                '%s %.1f%%' % (k, 100 * v) for k, v in m['manager']['state_share'].items())))
        if m['latency']:
            parts.append('<h3>%s: latency per node (ms of wall time per callback)</h3><table><tr><th>node</th>'
                         '<th>calls</th><th>mean</th><th>p95</th></tr>' % esc(name))
            for r in m['latency']:
                parts.append('<tr><td>%s</td><td>%d</td><td>%.2f</td><td>%.2f</td></tr>'
                             % (esc(r['node']), r['calls'], r['mean_ms'], r['p95_ms']))
            parts.append('</table>')
    captions = {'state_timeline': 'Manager state timeline', 'iou_quality_time': 'IoU and quality over time',
                'success_precision': 'Tracking success and precision', 'geo_error_vs_range': 'Geo error vs range',
                'map': 'Map of estimates and truth', 'latency': 'Latency per node'}
    for key, cap in captions.items():
        if key in imgs:
            parts.append('<h2>%s</h2><img alt="%s" src="data:image/png;base64,%s">' % (cap, key, imgs[key]))
    if extra_html:
        parts.append(extra_html)
    parts.append('</body></html>')
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / 'report.html'
    path.write_text('\n'.join(parts))
    (out_dir / 'metrics.json').write_text(json.dumps([public(m) for m in metrics_list], indent=1, default=float))
    return path


def print_summary(metrics_list: list, names: list):
    rows = [summary_rows(m) for m in metrics_list]
    print('%-34s %s' % ('', ' '.join('%14s' % n[:14] for n in names)))
    for i, (label, _, pct) in enumerate(rows[0]):
        print('%-34s %s' % (label, ' '.join('%14s' % _fmt(r[i][1], pct) for r in rows)))
    for name, m in zip(names, metrics_list):
        for note in m['notes']:
            print('note (%s): %s' % (name, note))


def cmd_eval(args) -> int:
    runs = [load_run(b) for b in args.bags]
    names = [Path(r.path).name for r in runs]
    if len(set(names)) < len(names):
        names = ['A', 'B'][:len(runs)]
    metrics = [evaluate(r) for r in runs]
    out = Path(args.out) if args.out else Path(runs[0].path).parent / ('eval_' + '_vs_'.join(names))
    path = write_report(metrics, runs, names, out, title='uavcine eval: ' + ' vs '.join(names))
    print_summary(metrics, names)
    print('report: %s' % path)
    return 0


def register(subparsers):
    p = subparsers.add_parser('eval', help='score one bag, or compare two, against their ground truth')
    p.add_argument('bags', nargs='+', metavar='BAG', help='one bag, or two to compare')
    p.add_argument('--out', help='report directory (default: beside the first bag)')
    p.set_defaults(func=cmd_eval)
    return p
