"""Dataset exporters in standard layouts, and ground-truth overlays for looking at frames.

- COCO detection: ``OUT/images/*.jpg`` + ``OUT/annotations/instances.json`` with the categories
  person (1), car (2), tower (3); bbox [x, y, w, h] in pixels (top-left, continuous coordinates:
  the image spans [0, W] x [0, H], as COCO's), ``area`` = pixels the target shows, ``iscrowd`` 0.
  Extra fields (ignored by pycocotools): annotation ``track_id``, ``visibility``, ``truncated``,
  ``distractor``; image ``scenario``, ``seed``, ``frame``, ``t_ns``.
- OTB single-object tracking: ``OUT/NAME/img/0001.jpg ...`` (1-based) and ``groundtruth_rect.txt``,
  one ``x,y,w,h`` line per frame, x and y 1-based as in OTB (our continuous top-left + 1);
  frames where the target is not visible at all (out of view or fully occluded) have
  ``NaN,NaN,NaN,NaN`` (as UAV123 does). ``visibility.txt`` holds the visible fraction per frame.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, Optional

import cv2
import numpy as np
from tqdm import tqdm

CATEGORIES = [{'id': 1, 'name': 'person', 'supercategory': 'target'},
              {'id': 2, 'name': 'car', 'supercategory': 'target'},
              {'id': 3, 'name': 'tower', 'supercategory': 'target'}]
CAT_ID = {c['name']: c['id'] for c in CATEGORIES}
COLORS = {'person': (255, 80, 80), 'car': (80, 200, 255), 'tower': (255, 230, 60), 'box': (255, 255, 255)}


def _write_jpg(path: Path, rgb: np.ndarray, quality: int = 92):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality]):
        raise OSError('cannot write %s' % path)


def frame_annotations(frame, min_visibility: float = 0.1, min_pixels: int = 4,
                      include_distractors: bool = True) -> list:
    """One frame's COCO annotations (without ``id`` / ``image_id``): the boxes the COCO export keeps."""
    anns = []
    for t in frame.truth:
        if t.bbox_xywh is None or t.cls not in CAT_ID or t.visibility < min_visibility or t.pixels < min_pixels:
            continue
        if t.distractor and not include_distractors:
            continue
        x, y, w, h = (round(float(v), 2) for v in t.bbox_xywh)
        anns.append({'category_id': CAT_ID[t.cls], 'bbox': [x, y, w, h], 'area': int(t.pixels), 'iscrowd': 0,
                     'track_id': int(t.id), 'visibility': round(float(t.visibility), 4),
                     'truncated': bool(t.truncated), 'distractor': bool(t.distractor)})
    return anns


def export_coco(sims: Iterable, out_dir, every: int = 1, min_visibility: float = 0.1, min_pixels: int = 4,
                progress: bool = True, include_distractors: bool = True) -> dict:
    """Write the frames of each simulator (every ``every``-th) as a COCO detection dataset; returns counts."""
    out = Path(out_dir)
    (out / 'annotations').mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    sims = list(sims)
    total = sum(len(range(0, s.n_frames, every)) for s in sims)
    bar = tqdm(total=total, desc='coco', unit='frame', disable=not progress)
    for sim in sims:
        tag = '%s_s%d' % (sim.scenario.name, sim.seed)
        for frame in sim.frames(step=every):
            image_id = len(images) + 1
            name = '%s_%06d.jpg' % (tag, frame.index)
            _write_jpg(out / 'images' / name, frame.rgb)
            images.append({'id': image_id, 'file_name': name, 'width': sim.camera.width, 'height': sim.camera.height,
                           'scenario': sim.scenario.name, 'seed': sim.seed, 'frame': frame.index, 't_ns': frame.t_ns})
            for a in frame_annotations(frame, min_visibility, min_pixels, include_distractors):
                anns.append(dict(a, id=len(anns) + 1, image_id=image_id))
            bar.update(1)
    bar.close()
    doc = {'info': {'description': 'uavcine embedded simulator', 'version': '1'},
           'licenses': [], 'images': images, 'annotations': anns, 'categories': CATEGORIES}
    (out / 'annotations' / 'instances.json').write_text(json.dumps(doc))
    return {'images': len(images), 'annotations': len(anns), 'path': str(out)}


def export_otb(sim, out_dir, target_id: Optional[int] = None, name: Optional[str] = None, every: int = 1,
               progress: bool = True) -> dict:
    """Write one target's sequence in OTB layout (img/0001.jpg..., groundtruth_rect.txt)."""
    if target_id is None:
        target_id = sim.scenario.shot.target
        if target_id is None:
            target_id = sim.world.targets[0].id
    sim.world.object(target_id)  # KeyError for an unknown id
    name = name or '%s_s%d_t%d' % (sim.scenario.name, sim.seed, target_id)
    seq = Path(out_dir) / name
    (seq / 'img').mkdir(parents=True, exist_ok=True)
    rects, vis = [], []
    idx = list(range(0, sim.n_frames, every))
    for n, k in enumerate(tqdm(idx, desc='otb %s' % name, unit='frame', disable=not progress)):
        frame = sim.frame(k)
        _write_jpg(seq / 'img' / ('%04d.jpg' % (n + 1)), frame.rgb)
        t = frame.target(target_id)
        if t is None or t.bbox_xywh is None or t.pixels == 0:
            rects.append('NaN,NaN,NaN,NaN')
            vis.append('0.0000')
        else:
            x, y, w, h = t.bbox_xywh
            rects.append('%.2f,%.2f,%.2f,%.2f' % (x + 1, y + 1, w, h))
            vis.append('%.4f' % t.visibility)
    (seq / 'groundtruth_rect.txt').write_text('\n'.join(rects) + '\n')
    (seq / 'visibility.txt').write_text('\n'.join(vis) + '\n')
    return {'frames': len(idx), 'path': str(seq), 'absent': sum(r.startswith('NaN') for r in rects)}


def draw_truth(frame, show_distractors: bool = True, scale: int = 1) -> np.ndarray:
    """RGB image with the frame's ground-truth boxes: class, id, visibility; dashed when truncated."""
    img = frame.rgb.copy()
    if scale != 1:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    for t in frame.truth:
        if t.bbox_xywh is None or (t.distractor and not show_distractors):
            continue
        x, y, w, h = (v * scale for v in t.bbox_xywh)
        col = COLORS.get(t.cls, (255, 255, 255))
        if t.distractor:
            col = tuple(int(c * 0.6) for c in col)
        p0 = (int(round(x)), int(round(y)))
        p1 = (int(round(x + w)) - 1, int(round(y + h)) - 1)
        cv2.rectangle(img, p0, p1, col, 1, cv2.LINE_AA)
        label = '%s%d v%.2f%s' % (t.cls, t.id, t.visibility, ' T' if t.truncated else '')
        (tw, th), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.38, 1)
        ty = p0[1] - 3 if p0[1] - th - 4 > 0 else p1[1] + th + 3
        cv2.rectangle(img, (p0[0], ty - th - 2), (p0[0] + tw + 2, ty + 2), (0, 0, 0), -1)
        cv2.putText(img, label, (p0[0] + 1, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.38, col, 1, cv2.LINE_AA)
    tel = frame.telemetry
    if tel is not None:
        tr = tel.true
        txt = 't=%.1fs  AGL %.1fm  yaw %.0f  cam pitch %.0f' % (
            frame.t, tr['agl'], math.degrees(tr['rpy'][2]), math.degrees(tr['rpy'][1] + tr['gimbal_rpy'][1]))
        cv2.putText(img, txt, (6, img.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, txt, (6, img.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return img


def colorize_depth(depth: np.ndarray, max_m: Optional[float] = None) -> np.ndarray:
    """Near = bright; log scale between the 1st and 99th percentile of the finite depths; sky black."""
    fin = np.isfinite(depth)
    lo, hi = (np.percentile(depth[fin], [1, 99]) if fin.any() else (1.0, 2.0))
    hi = max_m or hi
    d = np.clip(np.where(fin, depth, hi), lo, hi)
    v = (255 * (1 - (np.log(d) - np.log(lo)) / max(np.log(hi) - np.log(lo), 1e-6))).astype(np.uint8)
    v[~fin] = 0
    return cv2.applyColorMap(v, cv2.COLORMAP_INFERNO)[:, :, ::-1]


def colorize_flow(flow: np.ndarray, max_px: Optional[float] = None) -> np.ndarray:
    f = np.nan_to_num(flow)
    mag, ang = cv2.cartToPolar(f[..., 0], f[..., 1])
    m = max_px or max(float(np.percentile(mag, 99)), 1e-3)
    hsv = np.zeros(flow.shape[:2] + (3,), np.uint8)
    hsv[..., 0] = (ang * 90 / np.pi).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = np.clip(mag / m * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
