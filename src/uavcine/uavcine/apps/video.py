"""Render a run's footage with overlays to MP4: what the drone saw and what uavcine made of it.

Per frame, from the bag alone: detections (thin red), the manager's track (green tracking,
yellow occluded) with its state and quality, the truth box when the bag has one (thin white),
and a map inset with the drone, the true target, the geolocated estimate and its 95% ellipse.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pymap3d
from tqdm import tqdm

from ..core.box_ops import iou
from ..core.manager import STATE_NAMES
from ..nodes.msgs import BadMessage, image_to_numpy
from ..offline.bag import BagReader
from ..offline.typestore import make_typestore

STATE_COLOURS = {1: (230, 60, 60), 2: (60, 220, 60), 3: (240, 210, 40), 4: (90, 90, 90)}
CHI2_95 = 5.991  # chi-square, 2 dof, 95%


def _stamp(h) -> int:
    return int(h.stamp.sec) * 1_000_000_000 + int(h.stamp.nanosec)


def _box(b):
    return (b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2, b.size_x, b.size_y)


def _rect(img, box, colour, thick=1):
    x, y, w, h = (int(round(v)) for v in box)
    cv2.rectangle(img, (x, y), (x + w, y + h), colour, thick, cv2.LINE_AA)


def _text(img, text, org, colour=(255, 255, 255), scale=0.45):
    """Text on a dark band (an outline drawn thicker has other glyph advances in OpenCV 5: it doubles)."""
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    x, y = org
    band = img[max(0, y - h - 3):y + base + 1, max(0, x - 3):x + w + 3]
    band[:] = (band * 0.35).astype(np.uint8)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _minimap(img, drone, truth, est, cov, size=150, span=None):
    """Top-right inset, north up, centred between drone and target; RGB drawing."""
    pts = [p for p in (drone, truth, est) if p is not None]
    if not pts:
        return
    centre = np.mean(pts, axis=0)
    extent = max(40.0, 1.3 * max(np.abs(np.asarray(pts) - centre).max() * 2, 1.0)) if span is None else span
    scale = size / extent
    x0, y0 = img.shape[1] - size - 8, 8
    roi = img[y0:y0 + size, x0:x0 + size]
    roi[:] = (0.35 * roi + 0.65 * np.array([30, 30, 30])).astype(np.uint8)

    def px(p):
        return (int(x0 + size / 2 + (p[0] - centre[0]) * scale), int(y0 + size / 2 - (p[1] - centre[1]) * scale))

    if est is not None and cov is not None and np.all(np.isfinite(cov)):
        vals, vecs = np.linalg.eigh(np.asarray(cov).reshape(2, 2))
        vals = np.clip(vals, 1e-6, None)
        axes = (max(1, int(math.sqrt(CHI2_95 * vals[1]) * scale)), max(1, int(math.sqrt(CHI2_95 * vals[0]) * scale)))
        angle = -math.degrees(math.atan2(vecs[1, 1], vecs[0, 1]))
        cv2.ellipse(img, px(est), axes, angle, 0, 360, (240, 210, 40), 1, cv2.LINE_AA)
    if drone is not None:
        cv2.circle(img, px(drone), 4, (80, 160, 255), -1, cv2.LINE_AA)
    if truth is not None:
        cv2.drawMarker(img, px(truth), (255, 255, 255), cv2.MARKER_CROSS, 10, 1, cv2.LINE_AA)
    if est is not None:
        cv2.circle(img, px(est), 3, (240, 210, 40), -1, cv2.LINE_AA)
    cv2.rectangle(img, (x0, y0), (x0 + size, y0 + size), (200, 200, 200), 1)
    _text(img, 'N^  %dm' % int(extent), (x0 + 4, y0 + size - 6), scale=0.35)


def render_video(bag, out_path, fps: float | None = None, max_frames: int | None = None, progress: bool = True,
                 snapshots=()) -> int:
    """Write the overlaid footage of ``bag`` to ``out_path`` (MP4, mp4v). Returns the number of frames.

    ``snapshots``: frame indices also saved as PNG beside the video (``<name>_<index>.png``).
    """
    reader = BagReader(bag, make_typestore(), recover=True)
    small = {'/target/track', '/detector/detections', '/target/geo', '/truth/targets', '/truth/camera_pose'}
    tracks, dets, truth, cams, geos = {}, {}, {}, {}, []
    try:
        for topic, mt, t, raw in reader.messages([x for x in small if x in reader.topics]):
            m = reader.deserialize(raw, mt)
            s = _stamp(m.header)
            if topic == '/target/track':
                tracks[s] = m
            elif topic == '/detector/detections':
                dets[s] = m
            elif topic == '/truth/targets':
                truth[s] = m
            elif topic == '/truth/camera_pose':
                cams[s] = np.array([m.pose.position.x, m.pose.position.y])
            else:
                geos.append((s, m))
        image_topic = '/camera/image_raw'
        if image_topic not in reader.topics:
            raise BadMessage('the bag has no %s topic: nothing to render' % image_topic)
        n_images = reader.topics[image_topic].count
        if fps is None:
            span = (reader.end_ns - reader.start_ns) / 1e9
            fps = max(1.0, min(30.0, round(n_images / span))) if span > 0 else 10.0
        geos.sort(key=lambda g: g[0])
        geo_stamps = np.array([g[0] for g in geos], dtype=np.int64)
        writer = None
        bar = None
        if progress:
            bar = tqdm(total=n_images if not max_frames else min(n_images, max_frames), unit='frame', desc='video')
        count = 0
        last_track = None
        for topic, mt, t, raw in reader.messages([image_topic]):
            m = reader.deserialize(raw, mt)
            try:
                img = image_to_numpy(m).copy()
            except BadMessage:
                continue
            s = _stamp(m.header)
            if writer is None:
                Path(out_path).parent.mkdir(parents=True, exist_ok=True)
                writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                         (img.shape[1], img.shape[0]))
            tru = truth.get(s)
            target_truth = None
            tr = tracks.get(s, last_track)
            if tru is not None:
                best = -1.0
                for tt in tru.targets:
                    if tt.distractor:
                        continue
                    if tt.in_view and tt.bbox.size_x > 0:
                        _rect(img, _box(tt.bbox), (255, 255, 255), 1)
                    # the target being filmed: the one the track overlaps most, else the first
                    score = 0.0
                    if tr is not None and tt.in_view and tr.bbox.size_x > 0:
                        score = iou(_box(tr.bbox), _box(tt.bbox))
                    if score > best:
                        best, target_truth = score, tt
            d = dets.get(s)
            if d is not None:
                for det in d.detections:
                    _rect(img, _box(det.bbox), (230, 40, 40), 1)
            last_track = tr
            label = 'no track'
            if tr is not None:
                state = int(tr.state)
                if state in (2, 3) and tr.bbox.size_x > 0:
                    _rect(img, _box(tr.bbox), STATE_COLOURS[state], 2)
                label = '%s  q=%.2f  id=%d %s' % (STATE_NAMES.get(state, state).upper(), tr.quality, tr.track_id,
                                                  tr.class_id)
                _text(img, label, (8, 18), STATE_COLOURS.get(state, (255, 255, 255)))
            geo = None
            if geo_stamps.size:
                k = int(np.searchsorted(geo_stamps, s, side='right')) - 1
                if k >= 0 and s - geo_stamps[k] < 1.5e9:
                    geo = geos[k][1]
            est = cov = None
            if geo is not None:
                est = np.array([geo.position_enu.x, geo.position_enu.y])
                cov = np.asarray(geo.covariance_enu_xy, float).reshape(2, 2)
                sig = math.sqrt(max(np.trace(cov), 0.0))
                _text(img, 'target %.5f, %.5f  +-%.1f m  range %.0f m' % (
                    geo.geodetic.latitude, geo.geodetic.longitude, sig, geo.range_m), (8, 38))
            truth_en = None
            if target_truth is not None:
                truth_en = np.array([target_truth.position_enu.x, target_truth.position_enu.y])
                if est is not None:  # the geo node's ENU frame is not the simulator's: place it by WGS84
                    g = target_truth.geodetic
                    est = truth_en + np.array(pymap3d.geodetic2enu(geo.geodetic.latitude, geo.geodetic.longitude,
                                                                   geo.geodetic.altitude, g.latitude, g.longitude,
                                                                   g.altitude)[:2])
                    _text(img, 'geo error %.1f m' % float(np.hypot(*(est - truth_en))), (8, 58), (200, 200, 200))
            _minimap(img, cams.get(s), truth_en, est, cov)
            _text(img, 't=%.1f s' % ((s - reader.start_ns) / 1e9), (8, img.shape[0] - 10), scale=0.4)
            bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
            writer.write(bgr)
            if count in snapshots:
                cv2.imwrite(str(Path(out_path).with_name('%s_%04d.png' % (Path(out_path).stem, count))), bgr)
            count += 1
            if bar is not None:
                bar.update(1)
            if max_frames and count >= max_frames:
                break
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.release()
        return count
    finally:
        reader.close()
