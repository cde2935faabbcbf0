"""NED/FRD -> ENU/FLU conversions (core.ned_enu) and the remote-clock mapper (core.timesync)."""
import math

import numpy as np
import pytest

from uavcine.core.camera import rot_flu
from uavcine.core.ned_enu import (R_from_ned_euler, R_from_ned_quat, flu_from_frd, gimbal_euler_frd,
                                  gimbal_in_body, quat_wxyz, rpy, rpy_enu_from_ned)
from uavcine.core.timesync import TimeMapper, TimeSyncConfig

D = math.radians
EAST, NORTH, UP = np.eye(3)


def forward(R):
    return R[:, 0]


def test_level_vehicle_heading_north_faces_north_in_enu():
    R = R_from_ned_euler(0.0, 0.0, 0.0)
    np.testing.assert_allclose(forward(R), NORTH, atol=1e-12)
    np.testing.assert_allclose(R[:, 2], UP, atol=1e-12)          # FLU z is up
    np.testing.assert_allclose(R[:, 1], -EAST, atol=1e-12)       # left of a north-facing body is west
    assert rpy_enu_from_ned(0.0, 0.0, 0.0)[2] == pytest.approx(math.pi / 2)


def test_heading_east_is_yaw_zero_and_heading_west_is_pi():
    np.testing.assert_allclose(forward(R_from_ned_euler(0, 0, D(90))), EAST, atol=1e-12)
    assert rpy_enu_from_ned(0, 0, D(90))[2] == pytest.approx(0.0)
    assert abs(rpy_enu_from_ned(0, 0, D(-90))[2]) == pytest.approx(math.pi)


def test_nose_up_in_mavlink_is_negative_pitch_in_uavcine():
    R = R_from_ned_euler(0.0, D(10), 0.0)                          # nose 10 deg up, facing north
    assert forward(R)[2] == pytest.approx(math.sin(D(10)))        # forward axis climbs
    assert rpy(R)[1] == pytest.approx(-D(10))
    assert rpy_enu_from_ned(0.0, D(10), 0.0)[1] == pytest.approx(-D(10))


def test_right_wing_down_is_positive_roll_in_both():
    R = R_from_ned_euler(D(10), 0.0, 0.0)
    assert R[:, 1][2] == pytest.approx(math.sin(D(10)))            # FLU y (left wing) rises
    assert rpy(R)[0] == pytest.approx(D(10))


def test_closed_form_matches_matrix_route_for_random_attitudes():
    rng = np.random.default_rng(0)
    for _ in range(200):
        roll, yaw = rng.uniform(-math.pi, math.pi, 2)
        pitch = rng.uniform(-1.4, 1.4)
        R = R_from_ned_euler(roll, pitch, yaw)
        np.testing.assert_allclose(rot_flu(*rpy_enu_from_ned(roll, pitch, yaw)), R, atol=1e-12)
        q_ned = _quat_from_euler_ned(roll, pitch, yaw)
        np.testing.assert_allclose(R_from_ned_quat(q_ned), R, atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(quat_wxyz(R)), 1.0)


def _quat_from_euler_ned(roll, pitch, yaw):
    from transforms3d.euler import euler2quat
    return euler2quat(roll, pitch, yaw, 'sxyz')


def test_body_rates_frd_to_flu():
    np.testing.assert_allclose(flu_from_frd([0.1, 0.2, 0.3]), [0.1, -0.2, -0.3])


def test_gimbal_vehicle_frame_yaw_right_and_pitch_down():
    body = R_from_ned_euler(0.0, 0.0, D(90))                       # heading east
    g = gimbal_in_body(body, gimbal_euler_frd(0.0, D(-30), D(90)), 'vehicle')  # 30 down, 90 right of the nose
    world_fwd = forward(body @ g)
    np.testing.assert_allclose(world_fwd, [0.0, -math.cos(D(30)), -math.sin(D(30))], atol=1e-12)  # south, down
    roll, pitch, yaw = rpy(g)
    assert (roll, pitch, yaw) == pytest.approx((0.0, D(30), -D(90)))  # uavcine: pitch down +, yaw CCW +


def test_gimbal_earth_frame_yaw_is_against_north():
    body = R_from_ned_euler(0.0, 0.0, D(90))                       # heading east
    g = gimbal_in_body(body, gimbal_euler_frd(0.0, D(-15), D(180)), 'earth')  # looking south, 15 down
    np.testing.assert_allclose(forward(body @ g), [0.0, -math.cos(D(15)), -math.sin(D(15))], atol=1e-12)


def test_stabilised_gimbal_compensates_body_tilt():
    body = R_from_ned_euler(D(12), D(-8), D(30))                   # banked and nose down
    g = gimbal_in_body(body, gimbal_euler_frd(0.0, D(-15), 0.0), 'vehicle')  # level roll, 15 down, straight
    cam = body @ g
    assert cam[:, 1][2] == pytest.approx(0.0, abs=1e-12)            # horizon level: camera's left axis horizontal
    assert forward(cam)[2] == pytest.approx(-math.sin(D(15)))
    heading = math.atan2(forward(body)[1], forward(body)[0])
    assert math.atan2(forward(cam)[1], forward(cam)[0]) == pytest.approx(heading)


# ---------------------------------------------------------------------------- time mapping
def test_receipt_envelope_finds_the_offset_from_latency_samples():
    tm = TimeMapper(TimeSyncConfig(mode='receipt'))
    offset = 1_700_000_000_000_000_000
    rng = np.random.default_rng(1)
    for k in range(100):
        remote = 5_000_000_000 + k * 20_000_000
        tm.on_receipt(remote, remote + offset + int(rng.uniform(1e6, 30e6)))
    assert tm.source == 'receipt'
    assert 0 < tm.offset_ns - offset < 3_000_000                    # within the smallest latency (>= 1 ms)
    assert tm.to_host(6_000_000_000, offset + 10**12) == pytest.approx(6_000_000_000 + tm.offset_ns)


def test_timesync_round_trip_beats_receipt_and_rejects_slow_answers():
    tm = TimeMapper()
    offset = 10**18
    tm.on_receipt(1_000_000_000, 1_000_000_000 + offset + 40_000_000)
    assert tm.source == 'receipt'
    assert tm.on_timesync(offset + 2_000_000_000, 2_000_000_000 - 5_000_000 + 5_000_000, offset + 2_010_000_000)
    assert tm.source == 'timesync'
    assert abs(tm.offset_ns - offset) <= 5_000_000                  # half the 10 ms round trip
    assert not tm.on_timesync(offset, 0, offset + 10**9)            # 1 s round trip: ignored


def test_stamps_never_lie_in_the_future_and_reboot_resets():
    tm = TimeMapper()
    tm.on_receipt(50_000_000_000, 100_000_000_000)
    assert tm.to_host(60_000_000_000, 100_000_000_000) == 100_000_000_000
    tm.on_receipt(1_000_000_000, 101_000_000_000)                   # remote clock went back 49 s: reboot
    assert tm.resets == 1
    assert tm.offset_ns == 100_000_000_000
