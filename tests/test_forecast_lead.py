"""Pointing leads the target to lead_s after each command's time (the estimate's age made up by stamp arithmetic):
at the GeoTarget's velocity (lead_source 'velocity', the default) or along the forecast path ('forecast'), shrunk
by the velocity's certainty (core.lead); without a velocity or a forecast, or with leading off, it aims at the
estimate. The drone's position is carried to the command time from its (late) fixes, and the slew limit is on the
camera's turn in the world."""
import math

import pymap3d
import pytest
from transforms3d.euler import euler2quat, quat2euler

from uavcine.core.pointing import look_at
from uavcine.nodes import msgs
from uavcine.nodes.base import RELIABLE, SENSOR_DATA, Node
from uavcine.nodes.pointing import PointingNode
from uavcine.offline.host import OfflineHost

ORIGIN = (45.0, 7.0, 300.0)


class Feeder(Node):
    """A hovering drone, a GeoTarget at (60, 20) every 0.2 s, and a forecast: 5 m/s north from there. The
    GeoTarget's velocity and its covariance ([ee, en, ne, nn]) are ``velocity``, ``velocity_cov``."""
    NAME = 'feeder'
    send_forecast = True
    velocity = (0.0, 0.0)
    velocity_cov = (0.0, 0.0, 0.0, 0.0)

    def setup(self):
        self.fix = self.create_publisher('sensor_msgs/msg/NavSatFix', 'vehicle/fix', SENSOR_DATA)
        self.imu = self.create_publisher('sensor_msgs/msg/Imu', 'vehicle/imu', SENSOR_DATA)
        self.geo = self.create_publisher('uavcine_interfaces/msg/GeoTarget', 'target/geo', RELIABLE)
        self.path = self.create_publisher('nav_msgs/msg/Path', 'forecast/path', RELIABLE)
        self.create_timer(0.05, self.tick)
        self.k = 0
        self.target = pymap3d.enu2geodetic(60.0, 20.0, 0.0, *ORIGIN)

    def tick(self):
        self.k += 1
        now = self.now_ns()
        h = msgs.header(self, now, 'map')
        lat, lon, alt = pymap3d.enu2geodetic(0.0, 0.0, 30.0, *ORIGIN)
        self.fix.publish(self.new('sensor_msgs/msg/NavSatFix', header=h, latitude=lat, longitude=lon, altitude=alt))
        self.imu.publish(self.new('sensor_msgs/msg/Imu', header=h, orientation=msgs.quaternion_fields(
            euler2quat(0.0, 0.0, 0.0, 'sxyz'))))
        if self.k % 4 == 0:
            self.geo.publish(self.new('uavcine_interfaces/msg/GeoTarget', header=h, position_enu={'x': 60.0, 'y': 20.0},
                                      geodetic={'latitude': self.target[0], 'longitude': self.target[1],
                                                'altitude': self.target[2]},
                                      velocity_enu={'x': self.velocity[0], 'y': self.velocity[1]},
                                      velocity_covariance_enu_xy=list(self.velocity_cov)))
            if self.send_forecast:
                poses = [{'header': msgs.header(self, now + int(j * 0.4e9), 'map'),
                          'pose': {'position': {'x': 60.0, 'y': 20.0 + 5.0 * 0.4 * j}}} for j in range(13)]
                self.path.publish(self.new('nav_msgs/msg/Path', header=h, poses=poses))
        if self.k == 40:
            self.request_shutdown('done')


class NoForecast(Feeder):
    send_forecast = False


class Walking(NoForecast):
    """A GeoTarget walking 1.5 m/s east with a velocity sigma of 0.3 m/s per axis, and no forecast."""
    velocity = (1.5, 0.0)
    velocity_cov = (0.09, 0.0, 0.0, 0.09)


class Standing(NoForecast):
    """A GeoTarget standing still whose Kalman velocity is its noise: 0.3 m/s, sigma 0.4 m/s per axis."""
    velocity = (0.3, 0.0)
    velocity_cov = (0.16, 0.0, 0.0, 0.16)


def run(feeder, lead, lead_s=0.05, **params):
    host = OfflineHost()
    host.add_node(feeder)
    node = host.add_node(PointingNode, dict({'max_rate_dps': 360.0, 'aim_height_m': 0.0, 'lead': lead,
                                             'lead_s': lead_s, 'lead_source': 'forecast'}, **params))
    cmds = host.capture('/gimbal/command')
    geo = host.capture('/target/geo')
    host.run()
    return cmds, geo, node


def angles(cmd):
    _, pitch, yaw = quat2euler(msgs.quaternion_wxyz(cmd.quaternion), 'sxyz')
    return pitch, yaw


def test_lead_aims_at_the_forecast_position_lead_s_after_the_command():
    cmds, geo, node = run(Feeder, True, lead_s=1.0)
    assert node.led > 0
    ages = set()
    for t, cmd in cmds[-8:]:
        stamp = max(msgs.stamp_ns(g.header.stamp) for tg, g in geo if tg < t)   # the feeder's tick runs first
        ahead = (t - stamp) / 1e9 + 1.0            # the estimate's age, then lead_s past the command
        ages.add(round(ahead, 2))
        want = look_at((60.0, 20.0 + 5.0 * ahead, -30.0), (0.0, 0.0, 0.0))   # the forecast: 5 m/s north
        assert angles(cmd) == pytest.approx(want, abs=2e-3)
    assert len(ages) > 1   # commands 0.05 s apart from one estimate lead by different amounts


def test_no_lead_without_a_forecast_or_with_leading_off():
    plain = look_at((60.0, 20.0, -30.0), (0.0, 0.0, 0.0))
    for feeder, lead in ((Feeder, False), (NoForecast, True)):
        cmds, _, node = run(feeder, lead, lead_s=1.0)
        assert angles(cmds[-1][1]) == pytest.approx(plain, abs=2e-3)
        assert node.led == 0


def _ahead(t, geo, lead_s):
    stamp = max(msgs.stamp_ns(g.header.stamp) for tg, g in geo if tg < t)   # the feeder's tick runs first
    return (t - stamp) / 1e9 + lead_s


@pytest.mark.parametrize('certain', [True, False])
def test_velocity_lead_moves_the_estimate_by_its_shrunk_velocity(certain):
    """lead_source 'velocity': the GeoTarget moved at its own velocity over its age + lead_s, times
    k = |v|^2 / (|v|^2 + tr P_v) = 2.25 / (2.25 + 0.18) with lead_certainty, 1 without."""
    cmds, geo, node = run(Walking, True, lead_s=1.0, lead_source='velocity', lead_certainty=certain)
    k = 2.25 / (2.25 + 0.18) if certain else 1.0
    assert node.led > 0
    for t, cmd in cmds[-8:]:
        want = look_at((60.0 + k * 1.5 * _ahead(t, geo, 1.0), 20.0, -30.0), (0.0, 0.0, 0.0))
        assert angles(cmd) == pytest.approx(want, abs=2e-3)


def test_a_target_whose_velocity_is_mostly_noise_is_hardly_led():
    """k = 0.09 / (0.09 + 0.32) = 0.22: 0.3 m/s of velocity under 0.4 m/s of noise per axis moves the aim a fifth
    as far as the velocity alone would; a forecast path is shrunk by the same rule (its own velocity there: 5 m/s
    north, k = 25 / 25.32)."""
    cmds, geo, node = run(Standing, True, lead_s=1.0, lead_source='velocity')
    t, cmd = cmds[-1]
    k = 0.09 / (0.09 + 0.32)
    assert angles(cmd) == pytest.approx(look_at((60.0 + k * 0.3 * _ahead(t, geo, 1.0), 20.0, -30.0),
                                                (0.0, 0.0, 0.0)), abs=2e-3)

    class StandingWithForecast(Standing):
        send_forecast = True
    cmds, geo, node = run(StandingWithForecast, True, lead_s=1.0)
    t, cmd = cmds[-1]
    k = 25.0 / 25.32
    assert angles(cmd) == pytest.approx(look_at((60.0, 20.0 + k * 5.0 * _ahead(t, geo, 1.0), -30.0),
                                                (0.0, 0.0, 0.0)), abs=2e-3)


def test_lead_source_changes_at_run_time():
    host = OfflineHost()
    host.add_node(Walking)
    node = host.add_node(PointingNode, {'max_rate_dps': 360.0, 'aim_height_m': 0.0, 'lead_s': 1.0,
                                        'lead_source': 'forecast'})
    host.run()
    assert node.led == 0                                   # no forecast came
    assert node.set_parameters({'lead_source': 'velocity'})[0]
    assert node.lead_offset(node.geo_ns)[0] > 1.0          # led along the velocity now


def test_lead_beyond_the_forecast_horizon_is_not_used():
    cmds, _, node = run(Feeder, True, lead_s=4.9)              # the path covers 4.8 s
    assert angles(cmds[-1][1]) == pytest.approx(look_at((60.0, 20.0, -30.0), (0.0, 0.0, 0.0)), abs=2e-3)
    assert node.led == 0


class MovingDrone(Node):
    """A drone flying north at 10 m/s whose fixes arrive 0.2 s late at 5 Hz; a still target 40 m east."""
    NAME = 'moving'

    def setup(self):
        self.fix = self.create_publisher('sensor_msgs/msg/NavSatFix', 'vehicle/fix', SENSOR_DATA)
        self.imu = self.create_publisher('sensor_msgs/msg/Imu', 'vehicle/imu', SENSOR_DATA)
        self.geo = self.create_publisher('uavcine_interfaces/msg/GeoTarget', 'target/geo', RELIABLE)
        self.t0 = None
        self.k = 0
        self.create_timer(0.05, self.tick)

    def tick(self):
        now = self.now_ns()
        self.t0 = now if self.t0 is None else self.t0
        self.k += 1
        h = msgs.header(self, now, 'map')
        self.imu.publish(self.new('sensor_msgs/msg/Imu', header=h, orientation=msgs.quaternion_fields(
            euler2quat(0.0, 0.0, 0.0, 'sxyz'))))
        if self.k % 4 == 0:
            stamp = now - int(0.2e9)
            lat, lon, alt = pymap3d.enu2geodetic(0.0, 10.0 * (stamp - self.t0) / 1e9, 30.0, *ORIGIN)
            self.fix.publish(self.new('sensor_msgs/msg/NavSatFix', header=msgs.header(self, stamp, 'map'),
                                      latitude=lat, longitude=lon, altitude=alt))
            lat, lon, alt = pymap3d.enu2geodetic(40.0, 20.0, 0.0, *ORIGIN)
            self.geo.publish(self.new('uavcine_interfaces/msg/GeoTarget', header=h, geodetic={
                'latitude': lat, 'longitude': lon, 'altitude': alt}))
        if self.k == 60:
            self.request_shutdown('done')


@pytest.mark.parametrize('window_s', [1.0, 0.0])
def test_the_drone_position_is_carried_to_the_command_time(window_s):
    host = OfflineHost()
    drone = host.add_node(MovingDrone)
    host.add_node(PointingNode, {'max_rate_dps': 360.0, 'aim_height_m': 0.0, 'fix_fit_window_s': window_s})
    cmds = host.capture('/gimbal/command')
    fixes = host.capture('/vehicle/fix')
    host.run()
    t, cmd = cmds[-1]
    north_now = 10.0 * (t - drone.t0) / 1e9
    if window_s > 0:    # fitted to the fixes and carried to the command time: where the drone is now
        want = look_at((40.0, 20.0 - north_now, -30.0), (0.0, 0.0, 0.0))
    else:               # the newest fix as it is: where the drone was at its stamp
        stamp = max(msgs.stamp_ns(f.header.stamp) for tf, f in fixes if tf < t)
        want = look_at((40.0, 20.0 - 10.0 * (stamp - drone.t0) / 1e9, -30.0), (0.0, 0.0, 0.0))
    assert angles(cmd) == pytest.approx(want, abs=2e-3)
    if window_s == 0:   # what the stale fix costs here: 10 m/s x 0.2-0.4 s late at 40 m
        assert abs(angles(cmd)[1] - look_at((40.0, 20.0 - north_now, -30.0), (0.0, 0.0, 0.0))[1]) > math.radians(2.0)


def test_the_line_fitted_at_the_estimates_stamp_is_carried_to_the_command_time():
    """TelemetryBuffer.fit(t, window, at_ns=now): the line of the samples around t, evaluated at now; the same
    noisy fixes give the same line whichever time it is evaluated at, so the GPS error geo's fit put into a
    GeoTarget is the one pointing subtracts."""
    import numpy as np
    from uavcine.core.telemetry_buffer import TelemetryBuffer
    rng = np.random.default_rng(1)
    b = TelemetryBuffer()
    for k in range(12):   # 5 Hz fixes at 6 m/s with 1 m of white noise
        b.add(k * 200_000_000, np.array([1.2 * k + rng.normal(0.0, 1.0)]))
    t, now = 1_000_000_000, 1_400_000_000
    at_t, at_now = b.fit(t, 1_000_000_000)[1][0], b.fit(t, 1_000_000_000, at_ns=now)[1][0]
    slope = (b.fit(t, 1_000_000_000, at_ns=t + 10**9)[1][0] - at_t)
    assert at_now == pytest.approx(at_t + 0.4 * slope, abs=1e-9)
    assert b.fit(now, 1_000_000_000)[1][0] != pytest.approx(at_now, abs=1e-3)   # another window, another line
