"""UAV-GESTURE loader and protocols on the real keypoints (skipped when shared/data is absent)."""

import numpy as np
import pytest

from uavcine.core.gestures import skeleton as K
from uavcine.core.gestures.mmgr import UAV_GESTURE_LABELS
from uavcine.train import uav_gesture as U
from conftest import SHARED

DATA = SHARED / 'data' / 'uav_gesture'  # conftest.SHARED: beside the repo, or UAVCINE_SHARED
pytestmark = pytest.mark.skipif(not (DATA / 'joint_positions').is_dir(),
                                reason='real UAV-GESTURE keypoints not present (shared/data/uav_gesture)')


@pytest.fixture(scope='module')
def videos():
    return U.load(DATA)


def test_dataset_as_published(videos):
    assert len(videos) == 119
    assert {v.label for v in videos.values()} == set(UAV_GESTURE_LABELS)
    assert len({v.subject for v in videos.values()}) == 11   # S1-S15 with gaps; the paper says 10 subjects
    assert all(v.points18.shape[1:] == (18, 2) for v in videos.values())


def test_splits_are_by_subject_per_gesture_and_cover_every_video(videos):
    for k in (1, 2, 3):
        train, test = U.split(DATA, k)
        assert set(train) | set(test) == set(videos) and not set(train) & set(test)
        for g in UAV_GESTURE_LABELS:
            subjects = [{videos[n].subject for n in part if videos[n].label == g} for part in (train, test)]
            assert subjects[1] and not subjects[0] & subjects[1]
        dtrain, dev = U.dev_split(DATA, k)
        assert set(dtrain) | set(dev) == set(train) and not set(dev) & set(test)


def test_p2_sequences_are_deterministic_and_80_percent_the_gesture(videos):
    _, test = U.split(DATA, 1)
    for name in test:
        v = videos[name]
        seq, k = U.p2_sequence(videos, v, test)
        src = U.p2_prefix_source(videos, v, test)
        assert src.subject == v.subject and src.label != v.label
        assert len(seq) - k == len(v.points18) and k / len(seq) <= 0.2 + 1 / len(seq)
        assert np.array_equal(seq[k:], v.points18) and np.array_equal(seq[:k], src.points18[-k:])
        assert np.array_equal(U.p2_sequence(videos, v, test)[0], seq)


def test_real_keypoints_normalise_to_a_body_sized_frame(videos):
    for v in list(videos.values())[::10]:
        p, valid = K.joint_proc(v.points18)
        assert np.isfinite(p).all() and valid.mean() > 0.9
        sw = np.linalg.norm(p[:, K.R_SHOULDER] - p[:, K.L_SHOULDER], axis=-1)
        assert 0.3 < np.median(sw) <= 1.01  # the scale is the larger of shoulder width and head height
        assert np.abs(p).max() < 10
