"""eval.shot_diag: which images the track was restarted on (the segments its scale study replays)."""
import numpy as np

from uavcine.eval.run_eval import RunData
from uavcine.eval.shot_diag import restarts, timeline_rows


def test_restarts_are_the_images_whose_track_box_is_one_of_their_detections():
    run = RunData('bag', image_stamps=np.array([10, 20, 30, 40]))
    run.tracks = [{'stamp': 10, 'box': (0, 0, 10, 20), 'quality': 1.0, 'state': 2},
                  {'stamp': 20, 'box': (1, 0, 10, 20), 'quality': 0.9, 'state': 2},
                  {'stamp': 30, 'box': (5, 5, 12, 24), 'quality': 1.0, 'state': 2},
                  {'stamp': 40, 'box': (6, 5, 12, 24), 'quality': 0.9, 'state': 2}]
    dets = {10: [((0, 0, 10, 20), 0.9, 'tower')], 20: [((50, 0, 10, 20), 0.9, 'tower')],
            30: [((5, 5, 12, 24), 0.8, 'tower'), ((50, 0, 10, 20), 0.9, 'tower')]}
    assert restarts(run, dets) == [(0, (0, 0, 10, 20)), (2, (5, 5, 12, 24))]
    run.truth = {s: [{'id': 1, 'cls': 'tower', 'box': (0, 0, 10, 20), 'visibility': 1.0, 'target': True,
                      'enu': np.zeros(3), 'geo': (0.0, 0.0, 0.0)}] for s in (10, 20, 30, 40)}
    rows = timeline_rows(run, dets)
    np.testing.assert_allclose([r['t'] for r in rows], [0.0, 1e-8, 2e-8, 3e-8])
    assert rows[0]['iou'] == 1.0 and rows[1]['dets'] is not None and rows[3]['dets'] is None
