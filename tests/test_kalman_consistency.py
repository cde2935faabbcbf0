"""eval.kalman_consistency: a short simulator run recorded, replayed under the filter models, scored."""
import math
from pathlib import Path

import numpy as np

from uavcine.eval.kalman_consistency import Model, models, record, replay, summary

REPO = Path(__file__).resolve().parents[1]


def test_models_score_a_short_run_and_the_defaults_are_less_overconfident():
    rec = record('gesture_orbit', REPO, seed=0, duration_s=8.0)
    assert len(rec) > 40
    t, est, cls, p, v = rec[0]
    assert cls == 'person' and p.shape == (3,) and v.shape == (3,)
    ms = models()
    assert ms[0].correlated['gps'] == 1.0 and ms[3].correlated['gps'] == 0.5 and ms[3].correlated['attitude'] == 0.5
    before, now = summary([replay(rec, ms[0])]), summary([replay(rec, ms[3])])
    assert now['n'] > 30 and math.isfinite(now['nis'])
    # GPS white noise taken for a bias: velocity errors far larger than P_v says; the defaults fuse its white half
    assert now['nees_v'] < before['nees_v']
    # a model's class lookup: the class's own sigma, else the default
    m = Model('x', {'': 0.5, 'car': 2.0}, {})
    assert m.accel_for('car') == 2.0 and m.accel_for('person') == 0.5
    r = replay(rec, m)
    assert np.all(np.isfinite(r['nees_p'])) and r['t'].size == r['nees_v'].size
