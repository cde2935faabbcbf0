"""Pointing leads the target by lead_s along the forecast path; without a forecast (or lead 0) it aims at the estimate."""
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
    """A hovering drone, a GeoTarget at (60, 20) every 0.2 s, and a forecast: 5 m/s north from there."""
    NAME = 'feeder'
    send_forecast = True

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
                                                'altitude': self.target[2]}))
            if self.send_forecast:
                poses = [{'header': msgs.header(self, now + int(j * 0.4e9), 'map'),
                          'pose': {'position': {'x': 60.0, 'y': 20.0 + 5.0 * 0.4 * j}}} for j in range(13)]
                self.path.publish(self.new('nav_msgs/msg/Path', header=h, poses=poses))
        if self.k == 40:
            self.request_shutdown('done')


class NoForecast(Feeder):
    send_forecast = False


def last_angles(feeder, lead_s):
    host = OfflineHost()
    host.add_node(feeder)
    node = host.add_node(PointingNode, {'max_rate_dps': 360.0, 'aim_height_m': 0.0, 'lead_s': lead_s})
    cmds = host.capture('/gimbal/command')
    host.run()
    _, pitch, yaw = quat2euler(msgs.quaternion_wxyz(cmds[-1][1].quaternion), 'sxyz')
    return pitch, yaw, node


def test_lead_aims_at_the_forecast_position_lead_s_ahead():
    pitch, yaw, node = last_angles(Feeder, 1.0)
    want = look_at((60.0, 25.0, -30.0), (0.0, 0.0, 0.0))      # 5 m/s x 1 s north of the estimate
    assert (pitch, yaw) == pytest.approx(want, abs=2e-3)
    assert node.led > 0


def test_no_lead_without_a_forecast_or_with_lead_zero():
    plain = look_at((60.0, 20.0, -30.0), (0.0, 0.0, 0.0))
    for feeder, lead in ((Feeder, 0.0), (NoForecast, 1.0)):
        pitch, yaw, node = last_angles(feeder, lead)
        assert (pitch, yaw) == pytest.approx(plain, abs=2e-3)
        assert node.led == 0


def test_lead_beyond_the_forecast_horizon_is_not_used():
    pitch, yaw, node = last_angles(Feeder, 4.9)               # the path covers 4.8 s
    assert (pitch, yaw) == pytest.approx(look_at((60.0, 20.0, -30.0), (0.0, 0.0, 0.0)), abs=2e-3)
    assert node.led == 0
