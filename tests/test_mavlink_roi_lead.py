"""The MAVLink bridge leads its ROI (roi_lead_s): the GeoTarget moved along its velocity over its age + roi_lead_s,
shrunk by the velocity's certainty (core.lead, the rule the pointing node uses), converted with pymap3d; checked on
the COMMAND_INT a loopback pymavlink vehicle receives (tests/mavlink_vehicle.py, as tests/test_mavlink_bridge.py)."""
from collections import Counter
from types import SimpleNamespace

import pymap3d
import pytest

from test_mavlink_bridge import run, target_near, vehicles  # noqa: F401 (vehicles: the loopback vehicle fixture)
from uavcine.nodes import msgs
from uavcine.nodes.mavlink_pointing import MavlinkPointing

T0 = 1_700_000_000 * 10**9


def _bridge_part(lead_s, certain=True, velocity=(3.0, -4.0), cov=(0.5, 0.0, 0.0, 0.5), age_s=0.3):
    """MavlinkPointing.roi_location's inputs without a link: a GeoTarget at (45, 7, 300) stamped age_s before T0."""
    stamp = msgs.stamp_fields(T0 - int(age_s * 1e9))
    tgt = SimpleNamespace(header=SimpleNamespace(stamp=SimpleNamespace(**stamp)),
                          geodetic=SimpleNamespace(latitude=45.0, longitude=7.0, altitude=300.0),
                          velocity_enu=SimpleNamespace(x=velocity[0], y=velocity[1], z=0.0),
                          velocity_covariance_enu_xy=list(cov))
    return SimpleNamespace(target=tgt, p=SimpleNamespace(roi_lead_s=lead_s, roi_lead_certainty=certain),
                           stats=Counter())


def _enu(lat, lon):
    return pymap3d.geodetic2enu(lat, lon, 300.0, 45.0, 7.0, 300.0)[:2]


@pytest.mark.parametrize('certain, k', [(True, 25.0 / 26.0), (False, 1.0)])
def test_the_led_roi_position(certain, k):
    part = _bridge_part(0.25, certain)
    e, n = _enu(*MavlinkPointing.roi_location(part, T0))
    ahead = 0.3 + 0.25                                   # the estimate's age, then roi_lead_s
    assert (e, n) == pytest.approx((k * 3.0 * ahead, -k * 4.0 * ahead), abs=1e-6)
    assert part.stats['roi_led'] == 1


def test_no_lead_with_roi_lead_s_0_or_without_a_velocity():
    for part in (_bridge_part(0.0), _bridge_part(0.25, velocity=(0.0, 0.0))):
        assert MavlinkPointing.roi_location(part, T0) == (45.0, 7.0)
        assert part.stats['roi_led'] == 0


def _sent_roi_enu(v, tgt, params, seconds=2.0):
    bridge, _ = run(v, params=params, seconds=seconds, target=tgt)
    rois = v.commands(v.mavlink.MAV_CMD_DO_SET_ROI_LOCATION)
    assert len(rois) >= 2, bridge.skipped
    cmd = rois[-1][1]
    assert cmd.get_type() == 'COMMAND_INT'
    return pymap3d.geodetic2enu(cmd.x / 1e7, cmd.y / 1e7, tgt['alt'], tgt['lat'], tgt['lon'], tgt['alt'])[:2], bridge


def test_command_int_roi_moved_by_velocity_times_the_lead(vehicles):  # noqa: F811 (the fixture)
    """A target walking 2 m/s north-east-ish (1.2, 1.6) with a velocity sigma of 0.3 m/s per axis, its GeoTarget
    0.2 s old when it arrives: the ROI goes k (1.2, 1.6) x (age + 0.25 s) from it, k = 4 / (4 + 0.18); the age at the
    send is 0.2 s to 0.2 s + the bridge's poll (0.01 s), and COMMAND_INT rounds to 1e-7 deg (1.1 cm)."""
    v = vehicles()
    tgt = dict(target_near(v), velocity=(1.2, 1.6), velocity_cov=(0.09, 0.0, 0.0, 0.09), age_s=0.2)
    (e, n), bridge = _sent_roi_enu(v, tgt, {'roi_lead_s': 0.25})
    k = 4.0 / 4.18
    lo, hi = k * (0.2 + 0.25), k * (0.2 + 0.25 + 0.01)
    assert lo * 1.2 - 0.02 <= e <= hi * 1.2 + 0.02 and lo * 1.6 - 0.02 <= n <= hi * 1.6 + 0.02
    assert bridge.stats['roi_led'] == bridge.stats['roi_sent'] >= 2
    (e0, n0), bridge = _sent_roi_enu(vehicles(), tgt, {'roi_lead_s': 0.0})   # 0: the GeoTarget as it is
    assert abs(e0) < 0.02 and abs(n0) < 0.02 and bridge.stats['roi_led'] == 0
