"""core.kalman: constant-velocity filter converges, estimates velocity, gates outliers, restarts."""
import numpy as np
import pytest

from uavcine.core.kalman import CHI2_2DOF_999, ConstantVelocityKF, KalmanConfig


def test_transition_matrices_by_hand():
    kf = ConstantVelocityKF(KalmanConfig(accel_sigma=2.0), dim=2)
    F, Q = kf.transition(0.5)
    assert F[0, 2] == 0.5 and F[1, 3] == 0.5 and F[0, 0] == 1.0
    assert Q[0, 0] == pytest.approx(4.0 * 0.5 ** 3 / 3) and Q[0, 2] == pytest.approx(4.0 * 0.5 ** 2 / 2)
    assert Q[2, 2] == pytest.approx(4.0 * 0.5) and Q[0, 1] == 0.0


def test_static_target_averages_white_noise():
    rng = np.random.default_rng(0)
    kf = ConstantVelocityKF(KalmanConfig(accel_sigma=0.01))
    truth = np.array([100.0, -40.0])
    R = np.eye(2) * 3.0 ** 2
    for k in range(200):
        kf.update(0.1 * k, truth + rng.normal(0, 3.0, 2), R)
    assert np.linalg.norm(kf.position - truth) < 1.0
    assert np.sqrt(kf.P_position[0, 0]) < 1.0  # far below the 3 m of one measurement
    assert np.linalg.norm(kf.velocity) < 0.3


def test_constant_velocity_target():
    rng = np.random.default_rng(1)
    kf = ConstantVelocityKF(KalmanConfig(accel_sigma=0.05))
    v = np.array([1.5, -0.5])
    for k in range(300):
        t = 0.1 * k
        kf.update(t, np.array([10.0, 5.0]) + v * t + rng.normal(0, 1.0, 2), np.eye(2))
    sig_v = np.sqrt(np.diag(kf.P_velocity))
    assert np.all(sig_v < 0.2)
    assert np.all(np.abs(kf.velocity - v) < 3 * sig_v)  # consistent with the filter's own covariance
    p, P = kf.predicted(30.0)
    np.testing.assert_allclose(p, np.array([10.0, 5.0]) + v * 30.0, atol=1.0)


def test_outlier_is_gated_then_restart_after_a_run_of_them():
    kf = ConstantVelocityKF(KalmanConfig(accel_sigma=0.1, max_consecutive_outliers=3))
    R = np.eye(2)
    for k in range(20):
        kf.update(0.1 * k, np.zeros(2), R)
    up = kf.update(2.0, np.array([50.0, 0.0]), R)
    assert not up.accepted and up.mahalanobis2 > CHI2_2DOF_999
    assert np.linalg.norm(kf.position) < 1e-6
    up2 = kf.update(2.1, np.array([50.0, 0.0]), R)
    assert not up2.accepted
    up3 = kf.update(2.2, np.array([50.0, 0.0]), R)  # third in a row: the target is elsewhere now
    assert up3.accepted and up3.restarted
    np.testing.assert_allclose(kf.position, [50.0, 0.0])


def test_no_gate_accepts_everything_and_gap_restarts():
    kf = ConstantVelocityKF(KalmanConfig(gate_chi2=0.0, max_gap_s=1.0))
    kf.update(0.0, np.zeros(2), np.eye(2))
    assert kf.update(0.1, np.array([100.0, 0.0]), np.eye(2)).accepted
    up = kf.update(5.0, np.array([-3.0, 7.0]), np.eye(2))
    assert up.restarted
    np.testing.assert_allclose(kf.position, [-3.0, 7.0])


def test_three_d_and_bad_dim():
    kf = ConstantVelocityKF(dim=3)
    kf.update(0.0, np.array([1.0, 2.0, 3.0]), np.eye(3))
    assert kf.position.shape == (3,) and kf.P_velocity.shape == (3, 3)
    with pytest.raises(ValueError):
        ConstantVelocityKF(dim=4)
