"""The demo's "preview vs flown" strip (issue #17): the shot preview view_synthesis published at the start of one
shot, beside the frames the simulator rendered when the drone got there.

``view_synthesis`` runs in the demo's graph for one shot in topic mode (``preview_max`` 1: the first time its inputs
are all there), with the scenario's shot as its planned shot. From that shot's bag: the N preview images
(``/view_synthesis/preview/image``, each stamped at its planned time), the planned camera poses
(``/view_synthesis/preview/poses``, stamped at the source image), the camera frames (``/camera/image_raw``), the
camera pose geo gave the source (``/camera/pose_enu``) and the simulator's camera poses (``/truth/camera_pose``).
Each preview is scored against the frame nearest its time at the model's resolution (the frame letterboxed as the
node letterboxes its source) by PSNR and SSIM (``eval/nvs_gap.scores``, the gap study's); the copy peer scores the
source frame against the same frames. The planned camera is not the flown one (the target's estimate and its
velocity, wind, the gimbal aiming at the target's centre): each column says by how far (camera displacement from
the source, planned vs flown, m; optical axes, deg).
"""
from __future__ import annotations

import html
import math
import os
from pathlib import Path

import numpy as np
from transforms3d.quaternions import quat2mat

from ..core.letterbox import Letterbox
from ..nodes import msgs
from ..offline.bag import BagReader
from ..offline.typestore import make_typestore

PREVIEW_IMAGE = '/view_synthesis/preview/image'
PREVIEW_POSES = '/view_synthesis/preview/poses'
IMAGE = '/camera/image_raw'
CAMERA_POSE = '/camera/pose_enu'
TRUTH_POSE = '/truth/camera_pose'
GEO = '/target/geo'
TRUTH_TARGETS = '/truth/targets'
#: A flown frame farther than this from a view's planned time is not that view's (the run ended before it), s.
MAX_FRAME_GAP_S = 0.2


def _pose(msg) -> np.ndarray:
    p = msg.pose.position
    T = np.eye(4)
    T[:3, :3] = quat2mat(msgs.quaternion_wxyz(msg.pose.orientation))
    T[:3, 3] = [p.x, p.y, p.z]
    return T


def read_preview(bag: Path) -> dict | None:
    """The first preview in ``bag`` and what it is compared with; None when the bag has no preview."""
    reader = BagReader(bag, make_typestore())
    try:
        topics = [t for t in (PREVIEW_IMAGE, PREVIEW_POSES, IMAGE, CAMERA_POSE, TRUTH_POSE, GEO, TRUTH_TARGETS)
                  if t in reader.topics]
        previews, planned, frames, geo_pose, truth, geo, target = {}, None, [], {}, {}, {}, {}
        for topic, msgtype, _, raw in reader.messages(topics):
            msg = reader.deserialize(raw, msgtype)
            ns = msgs.stamp_ns(msg.header.stamp)
            if topic == PREVIEW_POSES and planned is None:
                planned = msg
            elif topic == PREVIEW_IMAGE:
                previews.setdefault(ns, msgs.image_to_numpy(msg))
            elif topic == IMAGE:
                frames.append((ns, msg))
            elif topic == CAMERA_POSE:
                geo_pose[ns] = _pose(msg)
            elif topic == TRUTH_POSE:
                truth[ns] = _pose(msg)
            elif topic == GEO:
                geo[ns] = (msg.velocity_enu.x, msg.velocity_enu.y)
            elif topic == TRUTH_TARGETS:
                xy = [(t.position_enu.x, t.position_enu.y) for t in msg.targets if not t.distractor]
                if xy:
                    target[ns] = np.array(xy[0])
    finally:
        reader.close()
    if planned is None:
        return None
    src = msgs.stamp_ns(planned.header.stamp)
    times = [msgs.stamp_ns(q.header.stamp) for q in planned.poses]
    stamps = np.array([ns for ns, _ in frames], dtype=np.int64)

    def frame_at(ns):
        if not len(stamps):
            return None, None
        k = int(np.argmin(np.abs(stamps - ns)))
        if abs(int(stamps[k]) - ns) > MAX_FRAME_GAP_S * 1e9:
            return None, None
        return int(stamps[k]), msgs.image_to_numpy(frames[k][1])

    src_ns, src_img = frame_at(src)
    views = []
    for ns, q in zip(times, planned.poses):
        flown_ns, flown = frame_at(ns)
        views.append({'t_s': (ns - src) / 1e9, 'preview': previews.get(ns), 'planned': _pose(q),
                      'flown': flown, 'flown_pose': truth.get(flown_ns)})
    start = int(stamps.min()) if len(stamps) else src
    # what the target did: its velocity in the newest GeoTarget up to the source (the preview's), and how far the
    # simulator's target moved over the previewed time
    before = [ns for ns in geo if ns <= src]
    velocity = geo[max(before)] if before else None
    moved = None
    if target:
        ts = np.array(sorted(target), dtype=np.int64)
        a, b = (int(ts[np.argmin(np.abs(ts - ns))]) for ns in (src, times[-1]))
        moved = float(np.linalg.norm(target[b] - target[a]))
    return {'target_velocity': velocity, 'target_moved_m': moved,
            'source': src_img, 'source_s': (src - start) / 1e9, 'source_pose_geo': geo_pose.get(src),
            'source_pose_truth': truth.get(src_ns), 'views': views}


def compare(pre: dict) -> list:
    """Per view: model and copy PSNR / SSIM against the flown frame, and planned-vs-flown camera differences."""
    from ..eval.nvs_gap import scores  # lazy: imports torch and scikit-image, only when there is a preview
    rows = []
    for v in pre['views']:
        row = {'t_s': v['t_s'], 'model': None, 'copy': None, 'displacement_m': None, 'axis_deg': None}
        if v['flown'] is not None and v['preview'] is not None and pre['source'] is not None:
            h, w = v['preview'].shape[:2]
            flown = small(v['flown'], w, h)
            row['flown_small'] = flown
            with np.errstate(divide='ignore'):  # identical images: PSNR infinite, capped at 100 dB by scores
                row['model'] = scores(v['preview'], flown)
                row['copy'] = scores(small(pre['source'], w, h), flown)
        if v['flown_pose'] is not None and pre['source_pose_geo'] is not None and pre['source_pose_truth'] is not None:
            # displacement from the source camera, planned (geo's frame) vs flown (the simulator's): both ENU
            d_plan = v['planned'][:3, 3] - pre['source_pose_geo'][:3, 3]
            d_flown = v['flown_pose'][:3, 3] - pre['source_pose_truth'][:3, 3]
            row['displacement_m'] = float(np.linalg.norm(d_plan - d_flown))
            c = float(np.clip(v['planned'][:3, 2] @ v['flown_pose'][:3, 2], -1.0, 1.0))
            row['axis_deg'] = math.degrees(math.acos(c))
        rows.append(row)
    return rows


def small(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` as the model sees it: letterboxed to the preview's size (its content, no padding)."""
    h, w = image.shape[:2]
    lb = Letterbox.fit(w, h, width, height)
    return lb.apply(image)[lb.pad_y:lb.pad_y + lb.new_h, lb.pad_x:lb.pad_x + lb.new_w]


def _fmt(s) -> str:
    return 'not flown' if s is None else '%.1f dB / %.2f' % s


def strip_png(pre: dict, rows: list, path: Path) -> None:
    """Source and flown frames on top, the previews below, each preview's PSNR (model, copy) under it."""
    import matplotlib  # lazy: only the report draws
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: after choosing the Agg backend
    n = len(rows)
    fig, ax = plt.subplots(2, n + 1, figsize=(1.75 * (n + 1), 3.3))
    h, w = next((v['preview'].shape[:2] for v in pre['views'] if v['preview'] is not None), (48, 64))
    blank = np.full((h, w, 3), 255, np.uint8)
    src = small(pre['source'], w, h) if pre['source'] is not None else blank
    ax[0, 0].imshow(src, interpolation='nearest')
    ax[0, 0].set_title('source', fontsize=8)
    ax[1, 0].imshow(blank)
    ax[1, 0].text(w / 2, h / 2, 'top: flown\nbottom: preview\nPSNR dB:\nmodel | copy', ha='center', va='center',
                  fontsize=7)
    for k, (v, r) in enumerate(zip(pre['views'], rows), start=1):
        ax[0, k].imshow(r.get('flown_small', blank), interpolation='nearest')
        extra = '' if r['displacement_m'] is None else '\noff %.1f m, %.0f deg' % (r['displacement_m'], r['axis_deg'])
        ax[0, k].set_title('flown +%.1f s%s' % (r['t_s'], extra), fontsize=7)
        ax[1, k].imshow(v['preview'] if v['preview'] is not None else blank, interpolation='nearest')
        ax[1, k].set_xlabel('not flown' if r['model'] is None else '%.1f | %.1f' % (r['model'][0], r['copy'][0]),
                            fontsize=8)
    for a in ax.ravel():
        a.set_xticks([])
        a.set_yticks([])
    fig.tight_layout(pad=0.3)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def section_html(shot: str, bag: Path, run_dir: Path) -> tuple:
    """The report's "preview vs flown" section for one shot (writes preview_vs_flown.png beside the report), and
    a line for the console."""
    esc = html.escape
    head = ('<h2>Preview vs flown (%s)</h2><p><code>view_synthesis</code> in topic mode previewed the shot from the '
            'first frame with a camera pose and a geolocated target; below, the frames the simulator rendered when '
            'the drone got there. The shipped model against copying the source and the other peers on its test set: '
            '<code>models/MODEL_CARD_nvs_geogpt.md</code>.</p>' % esc(shot))
    try:
        pre = read_preview(bag)
    except Exception as exc:  # a damaged bag must not lose the rest of the report
        return head + '<p class="note">no preview: %s</p>' % esc(str(exc)), 'no preview: %s' % exc
    if pre is None:
        why = 'no preview in the bag (see the diagnostics of view_synthesis)'
        return head + '<p class="note">%s</p>' % why, why
    rows = compare(pre)
    png = run_dir / 'preview_vs_flown.png'
    strip_png(pre, rows, png)
    table = ['<table><tr><th>view</th><th>time after the source (s)</th><th>model PSNR / SSIM</th>'
             '<th>copy source PSNR / SSIM</th><th>planned vs flown camera: displacement (m)</th>'
             '<th>optical axes (deg)</th></tr>']
    for k, r in enumerate(rows, start=1):
        table.append('<tr><td>%d</td><td>%.1f</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>' % (
            k, r['t_s'], _fmt(r['model']), _fmt(r['copy']),
            '-' if r['displacement_m'] is None else '%.2f' % r['displacement_m'],
            '-' if r['axis_deg'] is None else '%.1f' % r['axis_deg']))
    table.append('</table>')
    line = 'preview vs flown, PSNR dB per view (model | copy source): %s' % ', '.join(
        '-' if r['model'] is None else '%.1f | %.1f' % (r['model'][0], r['copy'][0]) for r in rows)
    target = ''
    if pre['target_velocity'] is not None:
        target += ' The target\'s velocity then (target/geo): (%.1f, %.1f) m/s (ENU).' % tuple(pre['target_velocity'])
    if pre['target_moved_m'] is not None:
        target += ' The simulator\'s target moved %.1f m over the previewed %.1f s.' % (pre['target_moved_m'],
                                                                                    rows[-1]['t_s'])
    return head + '<img src="%s" style="max-width:100%%"><p>Source at %.2f s of the shot.%s</p>%s' % (
        esc(os.path.relpath(png, run_dir)), pre['source_s'], esc(target), ''.join(table)), line
