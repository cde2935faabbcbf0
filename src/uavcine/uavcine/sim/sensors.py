"""Sensor models: GPS (NavSatFix), attitude (Imu orientation), gimbal angles, AGL range, camera timing.

Timing. Sample k of a sensor with rate r is *delivered* at t_k = (k + 1) / r
seconds after the start (as a host timer of period 1/r fires), and *measures*
the truth at its stamp  s_k = t_k - latency + U(-jitter, +jitter)  (the header
stamp is the measurement time, as ROS drivers do). With probability
``dropout`` a sample is lost (not delivered).

Noise. value = truth + bias + drift(t) + white, where ``bias`` is constant,
``drift`` a smooth seeded wander of amplitude ``drift`` (sum of slow sinusoids,
a Gauss-Markov-like error without state) and ``white`` Gaussian of ``sigma``
(GPS: ``sigma`` horizontal, ``sigma_v`` vertical, metres; attitude and gimbal:
degrees on each of roll, pitch, yaw; AGL: metres). Every random number of
sample k is drawn from ``default_rng([seed, sensor, k])``: a sample does not
depend on which others were asked for, so the Python API and the node agree.

Magnetic declination. With ``magnetic_declination_deg = D`` (east positive) the
attitude's yaw is published relative to magnetic north, as a magnetometer-based
autopilot reports it: the orientation is that of base_link in an "ENU" frame
whose y axis points to magnetic north, i.e. ``yaw_published = yaw_true + D``
(ENU yaw is counter-clockwise from east; a compass heading clockwise from
magnetic north is heading_true - D). A consumer recovers the true yaw as
``yaw_published - D``. The gimbal's angles are relative to the body and are not
affected. D = 0 (default) publishes true-north yaw.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SENSORS = ('gps', 'imu', 'gimbal', 'agl', 'camera')


@dataclass
class Sample:
    sensor: str
    k: int
    t_delivery: float       # seconds since the start
    t_stamp: float          # measurement time, seconds since the start
    dropped: bool
    value: dict = field(default_factory=dict)


class _Drift:
    def __init__(self, rng, channels, amp):
        self.f = rng.uniform(0.005, 0.05, (channels, 4))
        self.ph = rng.uniform(0, 2 * np.pi, (channels, 4))
        self.a = amp * math.sqrt(2.0 / 4)

    def __call__(self, t):
        return self.a * np.sin(2 * np.pi * self.f * t + self.ph).sum(axis=1)


class SensorSuite:
    def __init__(self, sim, cfg, seed: int):
        self.sim, self.cfg, self.seed = sim, cfg, int(seed)
        self.drift = {}
        for i, name in enumerate(SENSORS[:4]):
            c = getattr(cfg, name)
            self.drift[name] = _Drift(np.random.default_rng([self.seed, 100, i]), 3, c.drift)

    def rate(self, sensor: str) -> float:
        if sensor == 'camera':
            return float(self.sim.scenario.camera.rate_hz)
        return float(getattr(self.cfg, sensor).rate_hz)

    def timing(self, sensor: str, k: int):
        """(delivery time, stamp time, dropped, rng) of sample k."""
        c = getattr(self.cfg, sensor)
        idx = SENSORS.index(sensor)
        rng = np.random.default_rng([self.seed, idx, int(k)])
        t_del = (k + 1) / self.rate(sensor)
        jit = rng.uniform(-c.jitter_s, c.jitter_s) if c.jitter_s > 0 else 0.0
        t_stamp = max(0.0, t_del - c.latency_s + jit)
        dropped = bool(c.dropout > 0 and rng.random() < c.dropout)
        return t_del, t_stamp, dropped, rng

    def sample(self, sensor: str, k: int) -> Sample:
        t_del, t_s, dropped, rng = self.timing(sensor, k)
        if sensor == 'camera':
            return Sample(sensor, k, t_del, t_s, dropped, {})
        c = getattr(self.cfg, sensor)
        st = self.sim.drone_state(t_s)
        d = self.drift[sensor](t_s)
        bias = np.asarray(c.bias, float)
        if sensor == 'gps':
            white = rng.normal(0, 1, 3) * np.array([c.sigma, c.sigma, c.sigma_v])
            enu = st.pos + bias + d + white
            lat, lon, alt = self.sim.world.geodetic(enu)
            var_h = c.sigma ** 2 + c.drift ** 2 + 1e-4
            var_v = c.sigma_v ** 2 + c.drift ** 2 + 1e-4
            v = {'enu': enu, 'lat': float(lat), 'lon': float(lon), 'alt': float(alt),
                 'covariance': np.diag([var_h, var_h, var_v]).reshape(-1)}
        elif sensor in ('imu', 'gimbal'):
            white = np.radians(rng.normal(0, c.sigma, 3))
            base = np.asarray(st.body_rpy if sensor == 'imu' else st.gimbal_rpy, float)
            rpy = base + np.radians(bias) + np.radians(d) + white
            if sensor == 'imu':
                rpy[2] += math.radians(self.cfg.magnetic_declination_deg)
            rpy[2] = (rpy[2] + math.pi) % (2 * math.pi) - math.pi
            v = {'rpy': rpy, 'sigma_rad': math.radians(math.hypot(c.sigma, c.drift)) + 1e-6}
        else:  # agl
            v = {'range': float(st.agl + bias[0] + d[0] + rng.normal(0, c.sigma))}
        return Sample(sensor, k, t_del, t_s, dropped, v)

    def latest(self, sensor: str, t: float):
        """The newest sample delivered at or before t (seconds), skipping dropped ones; None if none."""
        r = self.rate(sensor)
        k = int(math.floor(t * r + 1e-9)) - 1
        while k >= 0 and k >= int(t * r) - 1 - 50:
            s = self.sample(sensor, k)
            if not s.dropped:
                return s
            k -= 1
        return None
