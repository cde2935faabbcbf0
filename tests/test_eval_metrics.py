"""OTB metrics and ellipse coverage against hand-computed cases."""
import numpy as np
import pytest

from uavcine.core.box_ops import centre_error, iou, iou_xywh
from uavcine.eval.metrics import inside_ellipse, precision_at, success_auc, success_curve


def test_single_box_iou_is_the_row_iou():
    """box_ops.iou (plain floats, for the manager) and iou_xywh (rows, for evaluation) agree."""
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 50, (200, 4))
    b = a + rng.normal(0, 8, (200, 4))
    rows = iou_xywh(a, b)
    assert [iou(x, y) for x, y in zip(a, b)] == pytest.approx(rows.tolist(), abs=0)
    assert iou((0, 0, 10, 10), (20, 0, 10, 10)) == 0.0
    assert iou(None, (0, 0, 1, 1)) == 0.0 and iou((np.nan,) * 4, (0, 0, 1, 1)) == 0.0


def test_iou_by_hand():
    assert iou_xywh([0, 0, 10, 10], [5, 0, 10, 10])[0] == pytest.approx(50 / 150)
    assert iou_xywh([0, 0, 10, 10], [20, 20, 5, 5])[0] == 0.0
    assert iou_xywh([0, 0, 10, 10], [0, 0, 10, 10])[0] == 1.0
    assert iou_xywh([np.nan] * 4, [0, 0, 10, 10])[0] == 0.0


def test_success_and_precision():
    ious = np.array([1.0, 0.6, 0.3, 0.0])
    curve = success_curve(ious)
    assert curve[0] == 0.75 and curve[-1] == 0.0  # IoU > 0: three frames; IoU > 1: none
    assert success_auc(np.ones(5)) == pytest.approx(20 / 21)
    err = centre_error([[0, 0, 10, 10], [np.nan] * 4], [[3, 4, 10, 10], [0, 0, 1, 1]])
    assert err[0] == pytest.approx(5.0) and np.isinf(err[1])
    assert precision_at(err, 20) == 0.5


def test_ellipse_coverage_is_calibrated():
    rng = np.random.default_rng(1)
    cov = np.array([[4.0, 1.5], [1.5, 2.0]])
    err = rng.multivariate_normal([0, 0], cov, size=20000)
    share = inside_ellipse(err, np.broadcast_to(cov, (20000, 2, 2))).mean()
    assert share == pytest.approx(0.95, abs=0.006)
