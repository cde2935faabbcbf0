"""The closed loop of eval/lead_eval on the first 10 s of the LATERAL car (steady 12 m/s after the warm-up): without
leading the image centre lags the car along its motion; leading (the pointing node's defaults: the
GeoTarget's velocity, shrunk by its certainty; the estimate's age made up, the drone's own position carried to the
command time) removes that lag and most of the error. Measured: median 43.8 -> 13.0 px, along the motion
+42.0 -> -7.0 px."""
from pathlib import Path

import pytest

from uavcine.eval.lead_eval import fly

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def runs():
    return {lead: fly('lateral_car_turn_brake', lead, 0.05, REPO, duration_s=10.0) for lead in (False, True)}


def test_leading_removes_the_lag_along_the_targets_motion(runs):
    off, on = runs[False], runs[True]
    assert off['led'] == 0 and on['led'] > 0.8 * on['commands']
    assert off['along'] > 25.0          # the camera lags the car
    assert abs(on['along']) < 15.0      # and no longer does
    assert on['median'] < 0.6 * off['median'] and on['mean'] < 0.6 * off['mean']
    assert on['in_view'] == off['in_view'] == 1.0
