"""train/gesture_pair.py (issue #16): the per-subject summaries of all_clear vs not_clear, on synthetic arms."""
import math

import numpy as np

from uavcine.train import gesture_pair as GP
from uavcine.train import gesture_train
from uavcine.train import uav_gesture as U


def swinging(period_s, head_dx, T=250):
    """A COCO-18 person (pixels, shoulders 80 px apart) swinging the straight right arm up and down with this period,
    the nose ``head_dx`` px right of the shoulder midpoint."""
    t = np.arange(T) / U.FPS
    seq = np.zeros((T, 18, 2))
    seq[:, 1] = (0, 0)
    seq[:, 0] = (head_dx, -60)
    seq[:, 2], seq[:, 5] = (-40, 0), (40, 0)
    seq[:, 6], seq[:, 7] = (45, 50), (50, 100)
    a = 0.5 * math.pi * (1 - np.cos(2 * math.pi * t / period_s))           # 0 (down) .. pi (up), about the shoulder
    d = np.stack([-np.sin(a), np.cos(a)], 1)                               # unit vector of the right arm
    seq[:, 3] = (-40, 0) + 50 * d
    seq[:, 4] = (-40, 0) + 100 * d
    seq[:, 8], seq[:, 11] = (-25, 120), (25, 120)
    return seq + (900.0, 500.0)


def test_pair_summaries_see_the_period_and_the_head_offset(capsys):
    videos = {'S1_allClear_HD': U.Video('S1_allClear_HD', 'S1', 'all_clear', swinging(2.0, -8.0)),
              'S1_notClear_HD': U.Video('S1_notClear_HD', 'S1', 'not_clear', swinging(1.6, 4.0))}
    ac, nc = GP.summaries(videos['S1_allClear_HD']), GP.summaries(videos['S1_notClear_HD'])
    assert abs(ac['period_s'] - 2.0) <= 0.08 and abs(nc['period_s'] - 1.6) <= 0.08
    assert np.isclose(ac['head_x'], -0.1, atol=1e-3) and np.isclose(nc['head_x'], 0.05, atol=1e-3)
    assert -30.0 <= ac['upper_arm_top_deg'] < 0.0          # near the top the arm points up, a little out (image left)
    out = GP.pair_stats(videos)
    assert out['all_clear_below']['head_x'] == 1 and out['all_clear_below']['period_s'] == 0
    assert 'period_s: all_clear below not_clear in 0 of 1 subjects' in capsys.readouterr().out


def test_pair_stats_command_refuses_a_missing_dataset_with_status_2(tmp_path, capsys):
    assert gesture_train.main(['pair-stats', '--data', str(tmp_path)]) == 2
    assert 'no UAV-GESTURE keypoints' in capsys.readouterr().err
