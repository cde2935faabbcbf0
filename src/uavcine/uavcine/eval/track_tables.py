"""The markdown tables of the tracking evaluation (``eval/track_eval.py``): the simulator suite's and the real
sequences' sections of docs/track_eval.md, and the OTB-style attributes they list."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def attributes(seq) -> list:
    """OTB-style attributes of a sequence from its truth."""
    att = []
    iv = np.isfinite(seq.boxes).all(axis=1)
    if np.any(iv & (seq.visible < 0.5)):
        att.append('OCC')
    if np.any(~iv):
        att.append('OV')
    if seq.meta.get('distractors', 0):
        att.append('DIS')
    areas = seq.boxes[iv, 2] * seq.boxes[iv, 3]
    if len(areas) and areas.max() / max(areas.min(), 1.0) > 2.0:
        att.append('SV')
    return att


NOTES = '''Notes on reading the table:

- *SiamFC* is the paper's tracker alone (every frame's response moves the box). *SiamFC + hold* adds
  the quality gate and nothing else: on a weak frame whose quality is below the manager's `hold_quality`
  the previous box is kept, for at most `max_hold_frames` weak frames in a row (then the response's box
  again). Quality is the predicted IoU of the box with the target. *SiamFC + manager +
  detector* is the seed's loop as the `tracker` node runs it (`core.detect_track.DetectTrackLoop`).
- Spearman(quality, IoU) is computed over the scored frames between the reported quality and the IoU
  of the reported box. For *SiamFC* the reported box is the response's own box, which the quality head
  is calibrated to predict. With the hold, a weak frame reports the *held* box with the *response's*
  (low) quality; under a locked gimbal the held box often still overlaps the hidden target, so the
  correlation is lower there by construction.
- The simulated detector is the ground truth of every object at least half visible, with 15% misses,
  8% box jitter and 5% false positives: a stand-in until the project's DETR model is evaluated in
  this loop (`--detector detr`), never a measurement of that detector.
- OpenCV's MIL samples its training patches at random: its scores change by a few hundredths between runs.
- Real sequences have no detector truth, so the manager + detector row is on the simulator only.
- fps: each sequence at its own frame and target size; per frame at 1280x720 on 1 and 2 threads against CSRT:
  `python bench/bench_tracker_720p.py --frames 20 --rounds 3` (models/MODEL_CARD_siamfc_sim.md, Speed).'''


def sim_table(rows, res, seqs) -> list:
    """The simulator suite's section of docs/track_eval.md (markdown lines)."""
    occ = [s.name for s in seqs if {'OCC', 'OV'} & set(attributes(s))]
    lines = ['## Simulator suite', '',
             'OTB one-pass evaluation: every tracker starts on the first frame\'s true box; success AUC is the mean',
             'of the success curve over IoU thresholds 0..1 (21 steps), precision is the share of frames with centre',
             'error <= 20 px; frames with the target out of view are not scored, frames without a box score 0.',
             'fps: tracker update only (frame decoding excluded), %d thread(s) of this machine\'s 2-core CPU shared'
             ' with other jobs (compare within this table only); SiamFC runs on %s.' % (res['threads'], res['backend']),
             '',
             '**Detector of the manager row: %s.**' % res['detector'], '',
             '%d sequences, %d with occlusion or out-of-view (the occlusion suite): %s.' % (
                 len(seqs), len(occ), ', '.join(occ)), '',
             '| tracker | AUC (all) | prec@20 (all) | AUC (occlusion suite) | prec@20 (occlusion suite) | fps | '
             'Spearman(quality, IoU) |',
             '|---|---|---|---|---|---|---|']
    for r in rows:
        sp = '%.3f' % r['spearman'] if 'spearman' in r else '-'
        name = r['tracker']
        if 'detector_share' in r:
            name += ' (detector on %.0f%% of frames)' % (100 * r['detector_share'])
        lines.append('| %s | %.3f | %.3f | %.3f | %.3f | %.1f | %s |' % (
            name, r['auc'], r['prec20'], r['auc_occ'], r['prec20_occ'], r['fps'], sp))
    lines += ['', 'Sequences and attributes (OCC occlusion, OV out of view, DIS same-class distractors, '
              'SV scale change > 2x):', '']
    lines += ['- %s: %d frames, %s' % (s.name, len(s), ' '.join(attributes(s)) or '-') for s in seqs]
    lines += ['', 'Manager settings: `%s`' % json.dumps(res['manager']), '', 'Model: `%s`' % Path(res['model']).name]
    lines += ['', NOTES]
    return lines


def real_table(summ: dict, seqs, res: dict, max_frames: int, loso: bool = False) -> list:
    """The real sequences' section of docs/track_eval.md (markdown lines)."""
    folders = sorted({str(Path(s.meta.get('folder', s.name)).parent) for s in seqs})
    cap = ('first %d frames of each sequence (CPU budget)' % max_frames) if max_frames > 0 else 'all frames'
    if res.get('init_shift', '0,0') != '0,0':
        cap += ', trackers started on the first box shifted by (%s) px' % res['init_shift']
    lines = ['## Real sequences (OTB layout: %s)' % ', '.join('`%s`' % f for f in folders), '',
             '%d sequences, %s, %d scored frames. Mean over sequences (each sequence weighs the same);'
             % (len(seqs), cap, sum(r['frames'] for r in next(iter(summ.values()))['per_seq'])),
             'Spearman(quality, IoU) of the mean row is pooled over all scored frames. Normalised precision: area',
             'under the precision curve of the centre error in units of the true box size, thresholds 0..0.5',
             '(TrackingNet). fps: the tracker update alone, and with the frame\'s JPEG decode; %d thread(s),'
             % res['threads'],
             'SiamFC on %s, this shared 2-core machine (compare within this table only).' % res['backend'],
             ('Quality head: **leave-one-sequence-out** (`--loso-calib`): on each sequence the SiamFC rows\' quality '
              'and the gate use a head fitted on the other sequences%s, never on the one scored.'
              % (' and the simulator frames of `%s` (`siamfc_train collect`, e.g. `python -m uavcine.train.siamfc_train '
                 'collect sim:calib --max-frames 150 --out %s`)' % (res['calib_extra'], res['calib_extra'])
                 if res.get('calib_extra') else '')
              if loso else 'Quality head: the model\'s own (`%s`).' % Path(res['model']).name),
             'Manager: quality threshold %.2f, hold below quality %.2f, hold budget %d frames.' % (
                 res['manager']['quality_threshold'], res['manager']['hold_quality'],
                 res['manager']['max_hold_frames']), '',
             '| tracker | success AUC | prec@20 | norm. prec | fps (update) | fps (with decode) | '
             'Spearman(quality, IoU) |', '|---|---|---|---|---|---|---|']
    for k, v in summ.items():
        m = v['mean']
        sp = '%.3f' % m['spearman'] if 'spearman' in m else '-'
        lines.append('| %s | %.3f | %.3f | %.3f | %.1f | %.1f | %s |' % (
            k, m['auc'], m['prec20'], m['nprec'], m['fps'], m['fps_decode'], sp))
    names = list(summ)
    gate = 'SiamFC' in summ and 'SiamFC + hold' in summ
    lines += ['', 'Per sequence: success AUC / precision@20 (Spearman(quality, IoU) in brackets for SiamFC rows)%s.'
              % ('; gate - no gate: the AUC the quality gate adds (SiamFC + hold minus SiamFC)' if gate else ''), '',
              '| sequence | frames | ' + ' | '.join(names) + (' | gate - no gate |' if gate else ' |'),
              '|---|---|' + '---|' * (len(names) + gate)]
    for j, s in enumerate(seqs):
        cells = []
        for k in names:
            r = summ[k]['per_seq'][j]
            c = '%.3f / %.3f' % (r['auc'], r['prec20'])
            if 'spearman' in r:
                c += ' (%.2f)' % r['spearman']
            cells.append(c)
        if gate:
            cells.append('%+.3f' % (summ['SiamFC + hold']['per_seq'][j]['auc'] - summ['SiamFC']['per_seq'][j]['auc']))
        lines.append('| %s | %d | %s |' % (s.name, len(s), ' | '.join(cells)))
    return lines
