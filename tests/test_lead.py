"""core.lead: the lead displacement shrunk by how certain the velocity is, k = |v|^2 / (|v|^2 + tr P_v)."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from uavcine.core.lead import certainty, lead_displacement


def test_certainty_by_hand():
    assert certainty((3.0, 4.0), (1.0, 0.0, 0.0, 4.0)) == pytest.approx(25.0 / 30.0)
    assert certainty((12.0, 0.0), np.diag([0.25, 0.25])) == pytest.approx(144.0 / 144.5)   # a car: ~1
    assert certainty((0.3, 0.0), (0.16, 0.0, 0.0, 0.16)) == pytest.approx(0.09 / 0.41)       # noise: ~0.2
    assert certainty((1.0, 1.0), (0.0, 0.0, 0.0, 0.0)) == 1.0      # no covariance given: the velocity as it is
    assert certainty((1.0, 1.0), ()) == 1.0
    assert certainty((0.0, 0.0), (1.0, 0.0, 0.0, 1.0)) == 0.0      # nothing to lead by


@pytest.mark.parametrize('v,cov', [((math.nan, 1.0), (1, 0, 0, 1)), ((1.0, 1.0), (math.inf, 0, 0, 1))])
def test_a_broken_estimate_is_not_led(v, cov):
    assert certainty(v, cov) == 0.0
    assert np.all(lead_displacement(v, cov, 0.4) == 0.0)


def test_lead_displacement_is_the_shrunk_constant_velocity():
    d = lead_displacement((2.0, -1.0), (0.5, 0.0, 0.0, 0.5), 0.4)
    assert d == pytest.approx(np.array([2.0, -1.0]) * 0.4 * 5.0 / 6.0)
    assert lead_displacement((2.0, -1.0), (0.5, 0.0, 0.0, 0.5), 0.4, shrink=False) == pytest.approx([0.8, -0.4])


@given(st.floats(0.0, 30.0), st.floats(0.0, 30.0), st.floats(0.0, 4.0), st.floats(0.0, 4.0))
def test_the_shrunk_lead_is_never_longer_and_grows_with_speed(vx, vy, s1, s2):
    cov = (s1, 0.0, 0.0, s2)
    k = certainty((vx, vy), cov)
    assert 0.0 <= k <= 1.0
    assert np.linalg.norm(lead_displacement((vx, vy), cov, 0.5)) <= math.hypot(vx, vy) * 0.5 + 1e-12
    assert certainty((2 * vx, 2 * vy), cov) >= k - 1e-12   # faster under the same noise: more certain
