"""NED/FRD (MAVLink, ArduPilot, AirSim) <-> ENU/FLU (REP-103, uavcine) rotations.

Autopilots and AirSim give attitude as the rotation of an FRD body (x forward,
y right, z down) in a local NED world (x north, y east, z down), as Euler
angles R = Rz(yaw) Ry(pitch) Rx(roll) with positive pitch = nose UP and yaw
clockwise from north. uavcine uses the rotation of an FLU body in ENU with the
same Euler formula, which makes positive pitch = nose DOWN and yaw
counter-clockwise from east (uavcine.core.camera). Changing both frames:

    R_enu_flu = M @ R_ned_frd @ D,   M = [[0,1,0],[1,0,0],[0,0,-1]],  D = diag(1,-1,-1)

so roll_enu = roll_ned, pitch_enu = -pitch_ned, yaw_enu = pi/2 - yaw_ned.

Gimbals (MAVLink gimbal protocol v2, MOUNT_STATUS, MOUNT_ORIENTATION) give roll and
pitch against the horizon and yaw either against north ("earth frame") or against
the vehicle's heading ("vehicle frame"); ``gimbal_in_body`` turns both into the
gimbal's FLU frame relative to base_link, what /vehicle/gimbal carries.

Python 3.8, numpy + transforms3d.
"""
import math
from typing import Sequence, Tuple

import numpy as np
from transforms3d.euler import euler2mat, mat2euler
from transforms3d.quaternions import mat2quat, quat2mat

#: ENU coordinates of a vector given in NED (and back: M is its own inverse).
M_ENU_NED = np.array([[0.0, 1.0, 0.0],
                      [1.0, 0.0, 0.0],
                      [0.0, 0.0, -1.0]])
#: FRD <-> FLU (its own inverse).
D_FRD_FLU = np.diag([1.0, -1.0, -1.0])


def wrap_pi(a: float) -> float:
    """Angle in [-pi, pi)."""
    return (a + math.pi) % (2.0 * math.pi) - math.pi


def enu_from_ned(v: Sequence[float]) -> np.ndarray:
    return M_ENU_NED @ np.asarray(v, dtype=float)


def flu_from_frd(v: Sequence[float]) -> np.ndarray:
    """Body vectors (angular rates, accelerations): FRD -> FLU."""
    return D_FRD_FLU @ np.asarray(v, dtype=float)


def R_enu_flu_from_ned_frd(R_ned_frd: np.ndarray) -> np.ndarray:
    """Rotation of an FRD frame in NED -> rotation of the same physical frame as FLU in ENU."""
    return M_ENU_NED @ np.asarray(R_ned_frd, dtype=float) @ D_FRD_FLU


def R_ned_frd_from_enu_flu(R_enu_flu: np.ndarray) -> np.ndarray:
    return M_ENU_NED @ np.asarray(R_enu_flu, dtype=float) @ D_FRD_FLU


def R_from_ned_euler(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """MAVLink ATTITUDE angles (rad; NED world, FRD body) -> R_enu_flu."""
    return R_enu_flu_from_ned_frd(euler2mat(roll, pitch, yaw, 'sxyz'))


def rpy_enu_from_ned(roll: float, pitch: float, yaw: float) -> Tuple[float, float, float]:
    """Closed form of R_from_ned_euler as uavcine Euler angles (roll, pitch down+, yaw CCW from east)."""
    return float(roll), float(-pitch), wrap_pi(math.pi / 2.0 - yaw)


def R_from_ned_quat(wxyz: Sequence[float]) -> np.ndarray:
    """Quaternion of an FRD body in NED (MAVLink ATTITUDE_QUATERNION, AirSim poses) -> R_enu_flu."""
    q = np.asarray(wxyz, dtype=float)
    return R_enu_flu_from_ned_frd(quat2mat(q / np.linalg.norm(q)))


def quat_wxyz(R: np.ndarray) -> np.ndarray:
    """Rotation matrix -> unit quaternion [w, x, y, z] with w >= 0."""
    q = mat2quat(np.asarray(R, dtype=float))
    return -q if q[0] < 0 else q


def rpy(R: np.ndarray) -> Tuple[float, float, float]:
    """Rotation matrix -> (roll, pitch, yaw) of R = Rz(yaw) Ry(pitch) Rx(roll)."""
    r, p, y = mat2euler(np.asarray(R, dtype=float), 'sxyz')
    return float(r), float(p), float(y)


def heading_enu(R_enu_flu: np.ndarray) -> float:
    """Yaw of the body's forward axis projected on the horizontal plane (CCW from east)."""
    x = np.asarray(R_enu_flu)[:, 0]
    return math.atan2(x[1], x[0])


def gimbal_in_body(R_enu_base: np.ndarray, R_ref_frd: np.ndarray, yaw_frame: str) -> np.ndarray:
    """A gimbal attitude reported against a NED-like reference -> gimbal FLU relative to base_link (FLU).

    ``R_ref_frd`` is the rotation of the gimbal's FRD frame in its reference frame:
    ``yaw_frame='earth'``: the reference is NED (yaw from north);
    ``yaw_frame='vehicle'``: the reference is NED turned by the vehicle's heading (roll and pitch still
    against the horizon, yaw relative to the vehicle's nose), as MAVLink gimbals report by default;
    ``yaw_frame='body'``: the reference is the vehicle's FRD body (roll and pitch too, against the body).
    """
    R_ref_frd = np.asarray(R_ref_frd, dtype=float)
    if yaw_frame == 'body':  # all three angles against the vehicle's body (a servo mount, ArduPilot)
        return D_FRD_FLU @ R_ref_frd @ D_FRD_FLU
    if yaw_frame == 'earth':
        R_world_gimbal = R_enu_flu_from_ned_frd(R_ref_frd)
    elif yaw_frame == 'vehicle':
        # heading frame as FLU: x along the vehicle's horizontal heading, z up
        R_world_heading = euler2mat(0.0, 0.0, heading_enu(R_enu_base), 'sxyz')
        R_world_gimbal = R_world_heading @ D_FRD_FLU @ R_ref_frd @ D_FRD_FLU
    else:
        raise ValueError("yaw_frame must be 'earth', 'vehicle' or 'body', not %r" % yaw_frame)
    return np.asarray(R_enu_base, dtype=float).T @ R_world_gimbal


def gimbal_euler_frd(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Gimbal Euler angles in MAVLink's convention (rad; pitch up+, yaw right+) -> R_ref_frd."""
    return euler2mat(roll, pitch, yaw, 'sxyz')
