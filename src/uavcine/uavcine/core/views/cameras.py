"""The camera the transformer is conditioned on: relative pose and intrinsics as one feature vector.

GeoGPT (Rombach et al. ICCV 2021, section 3.2, "explicit" conditioning) feeds the transformer the
relative camera transformation between source and target views and the intrinsics; the
transformation is expressed in the source camera's frame, so the model never sees world
coordinates. Here every view k of a shot gets ``camera_features(T_rel_k, K, W, H)``: the rotation
matrix (9 numbers), the translation in units of ``scale_m`` (3) and the normalised intrinsics
fx/W, fy/H, cx/W - 1/2, cy/H - 1/2 (4) = 16 numbers. Poses are 4 x 4 camera-to-world matrices of the
optical frame (z forward, x right, y down; REP-103 optical), positions in metres (ENU world).
Python 3.8, numpy.
"""
import numpy as np

N_FEATURES = 16
SCALE_M = 30.0   # translations are given to the network in units of 30 m (the seed's shot distances)


def pose_matrix(position, R_world_optical) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = np.asarray(R_world_optical, float)
    T[:3, 3] = np.asarray(position, float)
    return T


def relative_pose(T_src: np.ndarray, T_tgt: np.ndarray) -> np.ndarray:
    """Camera-to-camera transform: the target camera in the source camera's optical frame."""
    return np.linalg.inv(np.asarray(T_src, float)) @ np.asarray(T_tgt, float)


def camera_features(T_rel: np.ndarray, K: np.ndarray, width: int, height: int, scale_m: float = SCALE_M) -> np.ndarray:
    """(16,) float32: R_rel (row-major), t_rel / scale_m, fx/W, fy/H, cx/W - 0.5, cy/H - 0.5."""
    K = np.asarray(K, float)
    return np.concatenate([np.asarray(T_rel, float)[:3, :3].ravel(), np.asarray(T_rel, float)[:3, 3] / scale_m,
                           [K[0, 0] / width, K[1, 1] / height, K[0, 2] / width - 0.5, K[1, 2] / height - 0.5]
                           ]).astype(np.float32)


def shot_features(poses, K: np.ndarray, width: int, height: int) -> np.ndarray:
    """(V, 16): features of every view relative to the first (the source; its own is the identity)."""
    poses = np.asarray(poses, float)
    return np.stack([camera_features(relative_pose(poses[0], T), K, width, height) for T in poses])
