"""Real-time monocular target geopositioning with uncertainty (AI4Media D4.x, section 4.3; Alaez et al., MMSP 2023).

The seed's method: the target stands where the ray through the middle of its
box's bottom edge meets the ground. With the drone at height h above ground
level (AGL), the camera pitched down by theta and the ray alpha below the
optical axis, the horizontal distance on flat ground is

    d = h / tan(theta + alpha)                              (flat_earth_distance)

and the bearing is the heading plus the ray's horizontal angle. We compute the
same thing in 3-D, so roll, gimbal yaw and off-centre boxes are exact, and go
beyond the seed in four ways:

1. ground: a flat plane (the seed) or a terrain heightmap (core.terrain), with a
   bounded ray-terrain intersection;
2. uncertainty: first-order propagation (central-difference Jacobian) of GPS,
   altitude, attitude, gimbal, pixel and class-height noise into a 3x3 ENU
   covariance (its 2x2 horizontal block is the published ellipse) and range /
   bearing sigmas; the covariance is kept per noise source so a filter can treat
   slowly varying sources (GPS) as a bias rather than as white noise;
3. truncated boxes (bottom edge on the image border): the foot is not seen, so
   either (a) the top edge and a class height prior give the foot, or (b) the
   border gives a bound (the foot is nearer than where the border ray meets the
   ground) and the estimate is the middle of that interval with its uniform
   variance; the one with the smaller range sigma is used;
4. degenerate input (NaN, box outside the image, ray above the horizon, no
   ground within range) gives ``ok=False`` and a reason, never an exception;
5. a box's bottom edge is where the object's *nearest* ground point projects,
   not its centre: a class footprint prior (``class_depths``, e.g. 3.8 m for a
   6 m lattice tower base) moves the hit that much farther along the view.

Frames (REP-103, as uavcine.core.camera): world = local ENU (x east, y north,
z up), metres; body = FLU, attitude (roll, pitch, yaw) of body in ENU with
R = Rz(yaw) Ry(pitch) Rx(roll), positive pitch = nose down, yaw 0 = east,
counter-clockwise; gimbal = FLU relative to body; camera mount = a fixed FLU
rotation of the camera head relative to the gimbal (calibration, default 0);
camera optical = x right, y down, z forward. The chain is

    R_world_optical = R(body) @ R(gimbal) @ R(mount) @ R_FLU_OPTICAL.

Bearings are compass azimuths from true north, clockwise (as GeoTarget).
Magnetic heading: an ENU yaw measured against magnetic north is turned into a
true one with the declination D (east positive): yaw_true = yaw_mag - D.

Filtering the estimates over time (bias sources kept apart): ``core.target_filter``.

Python 3.8, numpy, pymap3d, transforms3d.
"""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pymap3d

from uavcine.core.camera import R_FLU_OPTICAL, PinholeCamera, rot_flu
from uavcine.core.terrain import FlatGround, HeightMap

# Flags, the same bits as uavcine_interfaces/msg/GeoTarget.
FLAG_TRUNCATED = 1
FLAG_STALE = 2
FLAG_TERRAIN = 4
FLAG_FILTERED = 8
FLAG_OUTLIER = 16
FLAG_CLASS_PRIOR = 32

#: chi-square quantile, 2 degrees of freedom, 95 %: a point is inside the 95 % ellipse when d^2 <= this.
CHI2_2DOF_95 = 5.991464547107979

#: Noise sources of the propagated covariance (keys of GeoEstimate.cov_sources).
SOURCES = ('gps', 'altitude', 'attitude', 'gimbal', 'pixel', 'box_shape', 'class_height', 'class_depth',
           'truncation', 'box_fit')

# The perturbed inputs of the Jacobian, in order, with their source and finite-difference step.
_PARAM_NAMES = ('gps_e', 'gps_n', 'gps_u', 'agl', 'roll', 'pitch', 'yaw',
                'gimbal_roll', 'gimbal_pitch', 'gimbal_yaw', 'pixel_u', 'pixel_v', 'class_height', 'class_depth',
                'pixel_v_centre', 'axis_offset')
_PARAM_SOURCE = ('gps', 'gps', 'gps', 'altitude', 'attitude', 'attitude', 'attitude',
                 'gimbal', 'gimbal', 'gimbal', 'pixel', 'pixel', 'class_height', 'class_depth', 'pixel', 'box_shape')
_FD_STEP = np.array([0.05, 0.05, 0.05, 0.02, 2e-4, 2e-4, 2e-4, 2e-4, 2e-4, 2e-4, 0.25, 0.25, 0.02, 0.02, 0.25,
                     0.25])


# ----------------------------------------------------------------------------
# Geodesy: local ENU frame <-> WGS84 (pymap3d)
# ----------------------------------------------------------------------------


@dataclass
class LocalFrame:
    """A local ENU frame ('map') anchored at a WGS84 origin (degrees, ellipsoid height in metres)."""

    lat0: float
    lon0: float
    alt0: float = 0.0

    def to_enu(self, lat: float, lon: float, alt: float) -> np.ndarray:
        e, n, u = pymap3d.geodetic2enu(lat, lon, alt, self.lat0, self.lon0, self.alt0)
        return np.array([float(e), float(n), float(u)])

    def to_geodetic(self, enu: Sequence[float]) -> Tuple[float, float, float]:
        lat, lon, alt = pymap3d.enu2geodetic(float(enu[0]), float(enu[1]), float(enu[2]),
                                             self.lat0, self.lon0, self.alt0)
        return float(lat), float(lon), float(alt)


def true_yaw(yaw_enu: float, declination_deg: float, heading_is_magnetic: bool) -> float:
    """ENU yaw against true north from one measured against magnetic north (declination east-positive)."""
    if not heading_is_magnetic:
        return yaw_enu
    return yaw_enu - math.radians(declination_deg)


def compass_bearing(dx_east: float, dy_north: float) -> float:
    """Azimuth of a horizontal vector from north, clockwise, in [0, 2 pi)."""
    return math.atan2(dx_east, dy_north) % (2.0 * math.pi)


def wrap_pi(a):
    """Angle(s) wrapped to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2.0 * np.pi) - np.pi


# ----------------------------------------------------------------------------
# The seed's flat-earth formula
# ----------------------------------------------------------------------------


def vertical_angle(camera: PinholeCamera, v: float) -> float:
    """alpha: angle of the ray through image row v below the optical axis (rad; pinhole, no distortion)."""
    return math.atan2(v - camera.cy, camera.fy)


def horizontal_angle(camera: PinholeCamera, u: float) -> float:
    """beta: angle of the ray through image column u right of the optical axis (rad)."""
    return math.atan2(u - camera.cx, camera.fx)


def flat_earth_distance(h: float, theta: float, alpha: float) -> float:
    """The seed's distance: d = h / tan(theta + alpha); h AGL (m), theta camera pitch down, alpha vertical angle (rad).

    Returns inf when the ray does not go below the horizon (theta + alpha <= 0).
    """
    depression = theta + alpha
    if not depression > 0.0:
        return math.inf
    return h / math.tan(depression)


# ----------------------------------------------------------------------------
# Inputs, configuration, result
# ----------------------------------------------------------------------------


@dataclass
class Box:
    """A target's box in pixels (continuous coordinates), x/y of the top-left corner."""

    x: float
    y: float
    w: float
    h: float
    class_id: str = ''
    quality: float = 1.0  # the tracker's quality: its predicted IoU of the box with the target (1 = exact)


@dataclass
class Telemetry:
    """The vehicle's state at the image's stamp.

    vehicle_enu: GPS antenna position in the local ENU frame (m) (the camera is
    assumed at it: no lever arm); body_rpy: attitude of base_link in ENU (rad), yaw
    against magnetic north when GeoConfig.heading_is_magnetic; gimbal_rpy: gimbal
    FLU relative to base_link (rad); agl_m: height above ground (m), or None.
    """

    vehicle_enu: Sequence[float]
    body_rpy: Sequence[float]
    gimbal_rpy: Sequence[float] = (0.0, 0.0, 0.0)
    agl_m: Optional[float] = None


def _default_class_heights() -> Dict[str, Tuple[float, float]]:
    return {'person': (1.75, 0.1), 'car': (1.5, 0.15), 'tower': (30.0, 3.0)}


def _default_class_depths() -> Dict[str, Tuple[float, float]]:
    # A box's bottom edge is the object's nearest ground point, not its centre. For a
    # square footprint of half-width a seen from a random azimuth the nearest corner is
    # a (|cos| + |sin|) nearer along the view: mean 4a/pi, within [a, a sqrt 2].
    # person 0.5 x 0.5 m, car 4.5 x 1.8 m (any heading), lattice tower base 6 x 6 m.
    return {'person': (0.3, 0.1), 'car': (1.5, 0.6), 'tower': (3.8, 0.4)}


@dataclass
class GeoConfig:
    """Every tunable of the method (the geo node exposes each as a parameter)."""

    sigma_gps_h_m: float = 1.5         # GPS horizontal, per axis (m)
    sigma_gps_v_m: float = 3.0         # GPS vertical (m), used when altitude_source == 'gps'
    sigma_agl_m: float = 0.3           # AGL sensor (m)
    sigma_attitude_deg: float = 0.5    # roll, pitch, yaw of the body, each (deg)
    sigma_gimbal_deg: float = 0.5      # gimbal roll, pitch, yaw, each (deg)
    sigma_pixel: float = 2.0           # box edge position, each axis (px)
    altitude_source: str = 'agl'       # 'agl': camera height = ground under the drone + AGL; 'gps': GPS altitude
    flat_ground_height_m: float = 0.0  # ENU z of the flat plane when altitude_source == 'gps' and no terrain
    max_range_m: float = 1000.0        # ground hits farther than this (along the ray) are refused
    heading_is_magnetic: bool = False
    declination_deg: float = 0.0       # east positive
    mount_rpy_deg: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    border_margin_px: float = 1.0      # a box edge within this of the image border counts as truncated
    class_heights: Dict[str, Tuple[float, float]] = field(default_factory=_default_class_heights)
    class_depths: Dict[str, Tuple[float, float]] = field(default_factory=_default_class_depths)  # (m, sigma)
    sigma_axis_frac: float = 0.05      # the object's axis vs the box's centre column, sigma as a share of box width
    terrain_step_m: Optional[float] = None  # march step of the ray-terrain intersection (None: half a cell)
    vertical_axis: bool = True         # take the foot on the image of the object's vertical axis (see axis_column)
    box_fit_sigma: float = 1.0         # box edges off by the box's predicted IoU q (Box.quality): sigma of each edge =
                                       # this x the box side x (1 - q) / (1 + q), the shift of one edge of a same-size
                                       # box that gives IoU q (source 'box_fit'; 0 = off)

    def __post_init__(self):
        if self.altitude_source not in ('agl', 'gps'):
            raise ValueError("altitude_source must be 'agl' or 'gps', got %r" % self.altitude_source)


@dataclass
class GeoEstimate:
    """One geoposition. When ok is False only reason (and flags) mean anything."""

    ok: bool
    reason: str = ''
    flags: int = 0
    method: str = ''                   # 'bottom' | 'top_prior' | 'border_bound'
    point_enu: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))
    cov_enu: np.ndarray = field(default_factory=lambda: np.full((3, 3), np.nan))
    cov_sources: Dict[str, np.ndarray] = field(default_factory=dict)
    range_m: float = math.nan          # horizontal distance drone -> target
    range_sigma_m: float = math.nan
    bearing_rad: float = math.nan      # compass azimuth drone -> target, true north
    bearing_sigma_rad: float = math.nan
    vehicle_enu: np.ndarray = field(default_factory=lambda: np.full(3, np.nan))

    @property
    def cov_xy(self) -> np.ndarray:
        return self.cov_enu[:2, :2]

    def cov_of(self, sources) -> np.ndarray:
        """Sum of the 3x3 covariance of the named sources (missing ones count zero).

        ``sources``: names, or a mapping name -> fraction of that source's variance to take.
        """
        weights = sources if isinstance(sources, dict) else {s: 1.0 for s in sources}
        out = np.zeros((3, 3))
        for s, w in weights.items():
            if s in self.cov_sources:
                out = out + w * self.cov_sources[s]
        return out


def failed(reason: str, flags: int = 0) -> GeoEstimate:
    return GeoEstimate(ok=False, reason=reason, flags=flags)


def mahalanobis2_xy(point_xy: Sequence[float], mean_xy: Sequence[float], cov_xy: np.ndarray) -> float:
    """Squared Mahalanobis distance of a horizontal point from an estimate (inf for a singular covariance)."""
    d = np.asarray(point_xy, dtype=float)[:2] - np.asarray(mean_xy, dtype=float)[:2]
    try:
        return float(d @ np.linalg.solve(np.asarray(cov_xy, dtype=float), d))
    except np.linalg.LinAlgError:
        return math.inf


# ----------------------------------------------------------------------------
# Geometry helpers
# ----------------------------------------------------------------------------


def intersect_plane(origin: np.ndarray, direction: np.ndarray, z: float, max_range: float) -> Optional[np.ndarray]:
    """Ray meets the horizontal plane at height z from either side, ahead of the origin, within max_range."""
    if abs(direction[2]) < 1e-12:
        return None
    t = (z - origin[2]) / direction[2]
    if not 0.0 < t <= max_range:
        return None
    p = origin + t * direction
    p[2] = z
    return p


class _Ground:
    """The ground the ray meets: flat plane or heightmap, with raised-surface queries for the height prior."""

    def __init__(self, model, step: Optional[float]):
        self.model = model
        self.step = step
        self._flipped = None  # type: Optional[HeightMap]

    @property
    def is_terrain(self) -> bool:
        return isinstance(self.model, HeightMap)

    def height_at(self, x: float, y: float) -> float:
        return float(self.model.height_at(x, y))

    def hit(self, origin: np.ndarray, direction: np.ndarray, max_range: float, plane_z: Optional[float],
            raise_m: float = 0.0) -> Optional[np.ndarray]:
        """Where the ray meets the surface ground + raise_m; returns the ground point under that hit."""
        if plane_z is not None or not self.is_terrain:
            z = plane_z if plane_z is not None else self.model.height
            p = intersect_plane(origin, direction, z + raise_m, max_range)
            if p is None:
                return None
            p[2] = z
            return p
        hm = self.model
        lowered = origin - np.array([0.0, 0.0, raise_m])
        if lowered[2] >= hm.height_at(lowered[0], lowered[1]):
            # Raising the surface by raise_m = lowering the origin by it; the hit is then on the ground itself.
            return hm.intersect_ray(lowered, direction, max_range, step=self.step)
        # The origin is below the raised surface (drone lower than the target's top): mirror z and march down.
        if self._flipped is None:
            self._flipped = HeightMap(hm.x0, hm.y0, hm.resolution, -hm.heights)
        q = self._flipped.intersect_ray(np.array([lowered[0], lowered[1], -lowered[2]]),
                                        np.array([direction[0], direction[1], -direction[2]]),
                                        max_range, step=self.step)
        if q is None:
            return None
        return np.array([q[0], q[1], -q[2]])


# ----------------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------------


class Geopositioner:
    """Box + telemetry -> GeoEstimate (ENU point, covariance per source, range/bearing with sigmas).

    ground: None or FlatGround for the flat earth (with altitude_source 'agl' the
    plane is the ground under the drone, AGL below the camera, as in the seed), or a
    HeightMap for terrain.
    """

    def __init__(self, camera: PinholeCamera, config: Optional[GeoConfig] = None, ground=None):
        self.camera = camera
        self.cfg = config or GeoConfig()
        if ground is not None and not isinstance(ground, (FlatGround, HeightMap)):
            raise TypeError('ground must be FlatGround, HeightMap or None')
        self._flat_default = ground is None
        self.ground = _Ground(ground if ground is not None else FlatGround(self.cfg.flat_ground_height_m),
                              self.cfg.terrain_step_m)
        self._R_mount_optical = rot_flu(*np.radians(self.cfg.mount_rpy_deg)) @ R_FLU_OPTICAL

    @property
    def terrain_height(self):
        """(x, y) -> ground z of the terrain model, or None on flat earth (for TargetFilter)."""
        return self.ground.height_at if self.ground.is_terrain else None

    # --- the camera ------------------------------------------------------------------------
    def _camera(self, vehicle: np.ndarray, agl: float, body_rpy, gimbal_rpy
                ) -> Tuple[np.ndarray, np.ndarray, Optional[float]]:
        """(camera centre ENU, R_world_optical, flat ground z or None) of the rays: the chain of the module
        docstring (body yaw already true); with altitude_source agl the camera is AGL above the terrain
        under the drone, or the flat ground AGL below the camera (the seed)."""
        R = rot_flu(*body_rpy) @ rot_flu(*gimbal_rpy) @ self._R_mount_optical
        origin = np.array(vehicle, dtype=float)
        plane_z = None  # type: Optional[float]
        if self.cfg.altitude_source == 'agl':
            if self.ground.is_terrain:
                origin[2] = self.ground.height_at(vehicle[0], vehicle[1]) + agl
            else:
                plane_z = origin[2] - agl
        return origin, R, plane_z

    def camera_pose(self, telem: Telemetry) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """(camera centre (3,) ENU, R_world_optical (3, 3)) at ``telem``: the camera every ray of ``estimate``
        starts from (the same chain, true yaw and camera height); None when the telemetry is not finite."""
        try:
            vehicle = np.asarray(telem.vehicle_enu, dtype=float).reshape(3)
            rpy = np.asarray(telem.body_rpy, dtype=float).reshape(3).copy()
            grpy = np.asarray(telem.gimbal_rpy, dtype=float).reshape(3)
            agl = float(telem.agl_m) if telem.agl_m is not None else 0.0
        except (TypeError, ValueError):
            return None
        if not (np.all(np.isfinite(vehicle)) and np.all(np.isfinite(rpy)) and np.all(np.isfinite(grpy))
                and math.isfinite(agl)) or (self.cfg.altitude_source == 'agl' and telem.agl_m is None):
            return None
        rpy[2] = true_yaw(rpy[2], self.cfg.declination_deg, self.cfg.heading_is_magnetic)
        origin, R, _ = self._camera(vehicle, agl, rpy, grpy)
        return origin, R

    # --- one solution for given (possibly perturbed) inputs -----------------------------
    def _solve(self, x: np.ndarray, mode: str) -> Tuple[Optional[np.ndarray], str]:
        """x = the 16 inputs of _PARAM_NAMES; returns ([e, n, u, range, bearing], '') or (None, reason)."""
        cfg = self.cfg
        vehicle = x[0:3]
        origin, R, plane_z = self._camera(vehicle, x[3], x[4:7], x[7:10])
        u_c = x[10] + x[15]
        u = axis_column(self.camera, R, u_c, x[14], x[11]) if self.cfg.vertical_axis else u_c
        ray = R @ self.camera.rays(np.array([[u, x[11]]]))[0]
        if not np.all(np.isfinite(ray)):
            return None, 'invalid_ray'
        raise_m = x[12] if mode == 'top_prior' else 0.0
        if mode != 'top_prior' and ray[2] >= -1e-9 and not self.ground.is_terrain:
            return None, 'ray_above_horizon'
        p = self.ground.hit(origin, ray, cfg.max_range_m, plane_z, raise_m)
        if p is None:
            if ray[2] >= -1e-9 and mode != 'top_prior':
                return None, 'ray_above_horizon'
            return None, 'no_ground_within_max_range'
        if mode == 'border_mid':
            # The foot is nearer than the border ray's hit: take the middle of [drone, hit].
            p = np.array([0.5 * (vehicle[0] + p[0]), 0.5 * (vehicle[1] + p[1]), p[2]])
            if self.ground.is_terrain:
                p[2] = self.ground.height_at(p[0], p[1])
        if mode != 'top_prior' and x[13] != 0.0:
            # from the object's nearest ground point to its centre, farther along the view
            hz = np.array([ray[0], ray[1]])
            hz = hz / max(float(np.linalg.norm(hz)), 1e-12)
            p[0] += x[13] * hz[0]
            p[1] += x[13] * hz[1]
            if self.ground.is_terrain:
                p[2] = self.ground.height_at(p[0], p[1])
        dx, dy = p[0] - vehicle[0], p[1] - vehicle[1]
        return np.array([p[0], p[1], p[2], math.hypot(dx, dy), compass_bearing(dx, dy)]), ''

    def _propagate(self, x: np.ndarray, sigma: np.ndarray, mode: str, fit: Optional[np.ndarray] = None):
        """Nominal solution and its first-order covariance per source (central differences); ``fit``: the sigmas of
        the box's fit to the target (source 'box_fit', on the same inputs as ``sigma``), when given."""
        y0, reason = self._solve(x, mode)
        if y0 is None:
            return None, None, reason
        J = np.zeros((5, x.size))
        fit = np.zeros_like(sigma) if fit is None else fit
        for k in np.nonzero((sigma > 0) | (fit > 0))[0]:
            step = np.zeros_like(x)
            step[k] = _FD_STEP[k]
            yp, _ = self._solve(x + step, mode)
            ym, _ = self._solve(x - step, mode)
            if yp is not None and ym is not None:
                dy, h = yp - ym, 2 * _FD_STEP[k]
            elif yp is not None:
                dy, h = yp - y0, _FD_STEP[k]
            elif ym is not None:
                dy, h = y0 - ym, _FD_STEP[k]
            else:
                return None, None, 'ill_conditioned'
            dy[4] = wrap_pi(dy[4])
            J[:, k] = dy / h
        per_source = {}
        for src in set(_PARAM_SOURCE):
            cols = [k for k, s in enumerate(_PARAM_SOURCE) if s == src]
            Js = J[:, cols]
            per_source[src] = Js @ np.diag(sigma[cols] ** 2) @ Js.T
        if np.any(fit > 0):
            per_source['box_fit'] = J @ np.diag(fit ** 2) @ J.T
        return y0, per_source, ''

    # --- public -----------------------------------------------------------------------
    def estimate(self, box: Box, telem: Telemetry) -> GeoEstimate:
        """Geoposition one box. Never raises: bad input gives ok=False and a reason."""
        try:
            return self._estimate(box, telem)
        except Exception as e:  # noqa: BLE001 - the contract is "no exception escapes" (a node must keep running)
            return failed('internal_error: %s: %s' % (type(e).__name__, e))

    def _estimate(self, box: Box, telem: Telemetry) -> GeoEstimate:
        cfg, cam = self.cfg, self.camera
        # Validate input -----------------------------------------------------------------
        bx = np.array([box.x, box.y, box.w, box.h], dtype=float)
        if not np.all(np.isfinite(bx)) or box.w <= 0 or box.h <= 0:
            return failed('invalid_box')
        try:
            vehicle = np.asarray(telem.vehicle_enu, dtype=float).reshape(3)
            rpy = np.asarray(telem.body_rpy, dtype=float).reshape(3)
            grpy = np.asarray(telem.gimbal_rpy, dtype=float).reshape(3)
        except (TypeError, ValueError):
            return failed('invalid_telemetry')
        if not (np.all(np.isfinite(vehicle)) and np.all(np.isfinite(rpy)) and np.all(np.isfinite(grpy))):
            return failed('invalid_telemetry')
        agl = telem.agl_m
        if cfg.altitude_source == 'agl':
            if agl is None or not math.isfinite(agl) or agl <= 0.0:
                return failed('invalid_agl')
        else:
            agl = 0.0
        W, H, m = float(cam.width), float(cam.height), cfg.border_margin_px
        if box.x >= W or box.y >= H or box.x + box.w <= 0 or box.y + box.h <= 0:
            return failed('box_outside_image')
        u_bottom = box.x + box.w / 2.0
        if not 0.0 <= u_bottom <= W:
            return failed('box_outside_image')
        rpy = rpy.copy()
        rpy[2] = true_yaw(rpy[2], cfg.declination_deg, cfg.heading_is_magnetic)

        # Inputs and their sigmas ----------------------------------------------------------
        bottom_cut = box.y + box.h >= H - m
        side_cut = box.x <= m or box.x + box.w >= W - m
        height_prior = cfg.class_heights.get(box.class_id)
        att, gim = math.radians(cfg.sigma_attitude_deg), math.radians(cfg.sigma_gimbal_deg)
        sig_u = cfg.sigma_pixel
        if side_cut:
            # the visible part's centre is off the object's centre by up to half its visible width
            sig_u = math.hypot(sig_u, box.w / 2.0)
        sig_alt = cfg.sigma_agl_m if cfg.altitude_source == 'agl' else 0.0
        sig_gps_u = cfg.sigma_gps_v_m if cfg.altitude_source == 'gps' else 0.0
        depth, sig_depth = cfg.class_depths.get(box.class_id, (0.0, 0.0))
        x = np.concatenate([vehicle, [agl], rpy, grpy, [u_bottom, min(box.y + box.h, H)], [0.0, depth],
                            [box.y + box.h / 2.0, 0.0]])
        sigma = np.array([cfg.sigma_gps_h_m, cfg.sigma_gps_h_m, sig_gps_u, sig_alt, att, att, att,
                          gim, gim, gim, sig_u, cfg.sigma_pixel, 0.0, sig_depth, cfg.sigma_pixel / 2.0,
                          cfg.sigma_axis_frac * box.w])
        flags = FLAG_TERRAIN if self.ground.is_terrain else 0
        fit = np.zeros_like(sigma)
        q = min(1.0, max(0.0, float(box.quality))) if math.isfinite(box.quality) else 0.0
        f = cfg.box_fit_sigma * (1.0 - q) / (1.0 + q)
        fit[10], fit[11] = f * box.w, f * box.h  # the foot's column and row (or the top row: the height prior)

        if not bottom_cut:
            y, cov, reason = self._propagate(x, sigma, 'bottom', fit)
            if y is None:
                return failed(reason, flags)
            if side_cut:
                flags |= FLAG_TRUNCATED
            return self._result(y, cov, flags, 'bottom', vehicle)

        # Truncated: the foot is below the image. (b) The bound: it is nearer than the border ray's hit.
        flags |= FLAG_TRUNCATED
        candidates = []  # type: List[GeoEstimate]
        xb = x.copy()
        xb[11] = H
        sb = sigma.copy()
        sb[11] = 0.0  # the image border is exact
        fb = fit.copy()
        fb[11] = 0.0
        ym, covm, reason_b = self._propagate(xb, sb, 'border_mid', fb)
        if ym is not None:
            d_border = 2.0 * ym[3]
            # Uniform on [0, d_border] along the bearing: variance d_border^2 / 12.
            ub = np.array([math.sin(ym[4]), math.cos(ym[4]), 0.0, 1.0, 0.0])
            covm['truncation'] = np.outer(ub, ub) * d_border ** 2 / 12.0
            candidates.append(self._result(ym, covm, flags, 'border_bound', vehicle))
        # (a) The class height prior through the top edge, when the top is in the image.
        reason_a = 'no_class_height_prior'
        if height_prior is not None and box.y > m:
            xa = x.copy()
            xa[10], xa[11], xa[12] = u_bottom, box.y, height_prior[0]
            sa = sigma.copy()
            sa[12] = height_prior[1]
            ya, cova, reason_a = self._propagate(xa, sa, 'top_prior', fit)
            if ya is not None and (ym is None or ya[3] <= 2.0 * ym[3] + 2.0 * math.sqrt(cova_rr(cova))):
                candidates.append(self._result(ya, cova, flags | FLAG_CLASS_PRIOR, 'top_prior', vehicle))
        if not candidates:
            return failed(reason_b or reason_a, flags)
        return min(candidates, key=lambda e: e.range_sigma_m)

    def _result(self, y: np.ndarray, cov: Dict[str, np.ndarray], flags: int, method: str,
                vehicle: np.ndarray) -> GeoEstimate:
        full = sum(cov.values())
        cov_sources = {k: v[:3, :3] for k, v in cov.items()}
        return GeoEstimate(ok=True, flags=flags, method=method, point_enu=y[:3].copy(),
                           cov_enu=full[:3, :3].copy(), cov_sources=cov_sources,
                           range_m=float(y[3]), range_sigma_m=float(math.sqrt(max(full[3, 3], 0.0))),
                           bearing_rad=float(y[4]), bearing_sigma_rad=float(math.sqrt(max(full[4, 4], 0.0))),
                           vehicle_enu=vehicle.copy())


def axis_column(camera: PinholeCamera, R_world_optical: np.ndarray, u_c: float, v_c: float, v_row: float) -> float:
    """Image column, on row v_row, of the vertical line through the pixel (u_c, v_c).

    A standing object's box is centred on its vertical axis, but with the camera
    pitched the image of a vertical line is not a column: all of them meet at the
    nadir's vanishing point V (the image of the world's down direction). The foot
    of an object whose box centre is (u_c, v_c) is therefore where the line from
    (u_c, v_c) to V crosses the box's bottom row, not straight below the centre
    (7 px, about 1 deg of bearing, for a 30 m tower at 100 m with the seed's camera).
    Homogeneous normalized coordinates (distortion ignored), V may be at infinity.
    """
    c = np.array([(u_c - camera.cx) / camera.fx, (v_c - camera.cy) / camera.fy, 1.0])
    V = R_world_optical.T @ np.array([0.0, 0.0, -1.0])   # down, in the optical frame = V, homogeneous
    row = np.array([0.0, 1.0, -(v_row - camera.cy) / camera.fy])
    p = np.cross(np.cross(c, V), row)
    if abs(p[2]) < 1e-12:
        return u_c
    return camera.cx + camera.fx * p[0] / p[2]


def cova_rr(cov: Dict[str, np.ndarray]) -> float:
    """Range variance of a per-source 5x5 covariance dict."""
    return float(sum(v[3, 3] for v in cov.values()))


def seed_flat_earth_point(camera: PinholeCamera, u: float, v: float, vehicle_enu: Sequence[float], agl_m: float,
                          camera_pitch: float, heading_yaw_enu: float) -> Optional[np.ndarray]:
    """The seed's 2-D method, for comparison: d = h / tan(theta + alpha) along heading + beta.

    Ignores roll and treats the horizontal and vertical angles separately (the
    seed's simplification); exact when the box is on the image's centre column
    and the camera does not roll. Returns the ENU ground point or None.
    """
    d = flat_earth_distance(agl_m, camera_pitch, vertical_angle(camera, v))
    if not math.isfinite(d):
        return None
    beta = horizontal_angle(camera, u)
    yaw = heading_yaw_enu - beta  # beta is to the right, i.e. clockwise, i.e. negative ENU yaw
    r = d / math.cos(beta)
    p = np.asarray(vehicle_enu, dtype=float)
    return np.array([p[0] + r * math.cos(yaw), p[1] + r * math.sin(yaw), p[2] - agl_m])
