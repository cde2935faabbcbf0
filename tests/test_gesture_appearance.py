"""The gesture branch's images: simulated people drawn (sim.people), hand patches, FMoD, MMGR_CNN, the pose network."""
import numpy as np
import pytest
import torch
from scipy import stats

from uavcine.core.gestures import body as B
from uavcine.core.gestures.fmod import MMGR, FMoD, HandPatchCNN
from uavcine.core.gestures.mmgr import GestureLSTM, MMGRConfig
from uavcine.core.gestures.pose import PoseConfig, PoseNet, crop_transform, to_image
from uavcine.sim import people as P


def test_fmod_has_no_parameters_and_computes_the_moments_of_each_segment():
    torch.manual_seed(0)
    x = torch.rand(5, 3, 24, 24) ** 2              # skewed pixel values
    f = FMoD(levels=3)
    assert not list(f.parameters()) and f.dim == 189
    y = f(x)
    assert y.shape == (5, 189)
    a = x[2, 1].numpy().astype(np.float64)
    # level 0, channel 1: mean, 2 x std, skewness / 3
    assert y[2, 1].item() == pytest.approx(a.mean(), abs=1e-5)
    assert y[2, 3 + 1].item() == pytest.approx(2 * a.std(), abs=1e-4)
    assert y[2, 6 + 1].item() == pytest.approx(stats.skew(a.ravel()) / 3, abs=1e-3)
    # level 1: 4 segments per channel; the top-right segment of channel 0 is the 2nd mean of the level
    seg = x[2, 0, :12, 12:].numpy().astype(np.float64)
    assert y[2, 9 + 1].item() == pytest.approx(seg.mean(), abs=1e-5)
    # any leading shape: (B, T, hands, 3, P, P) -> (B, T, hands, dim)
    assert f(torch.rand(2, 4, 2, 3, 24, 24)).shape == (2, 4, 2, 189)
    flat = torch.full((1, 3, 24, 24), 0.4)
    assert torch.allclose(f(flat)[0, 3:9], torch.zeros(6), atol=1e-3)   # a flat patch: no spread, no skew


def test_mmgr_and_mmgr_cnn_fuse_the_hand_features_with_the_skeleton():
    S, H = torch.rand(2, 32, 28), torch.rand(2, 32, 2, 3, 24, 24)
    for ext in (FMoD(), HandPatchCNN()):
        m = MMGR(ext, GestureLSTM(MMGRConfig(velocity=True, skeleton_dim=28, appearance_dim=2 * ext.dim)))
        out = m(S, H)
        assert out.shape == (2, 13)
        out.sum().backward()
        learnable = [p for p in m.extractor.parameters()]
        assert (len(learnable) > 0) == isinstance(ext, HandPatchCNN)
        assert all(p.grad is not None for p in learnable)
        # the hand patches change the prediction (the fusion is used)
        assert not torch.allclose(m.eval()(S, H), m(S, torch.zeros_like(H)))


def test_pose_net_is_small_and_decodes_the_heatmap_peak():
    m = PoseNet().eval()
    assert sum(p.numel() for p in m.parameters()) < 40000
    xy, conf = m(torch.rand(3, 3, 64, 64))
    assert xy.shape == (3, 18, 2) and conf.shape == (3, 18)
    peak = torch.full((1, 18, 16, 16), -30.0)
    peak[0, :, 5, 9] = 30.0                                     # row 5, column 9 of the 16x16 map
    m.heatmaps = lambda x: peak
    xy, conf = m(torch.zeros(1, 3, 64, 64))
    assert torch.allclose(xy[0], torch.tensor([9.5 * 4, 5.5 * 4]).expand(18, 2), atol=1e-3)
    assert torch.all(conf > 0.99)
    flat = torch.zeros(1, 18, 16, 16)
    m.heatmaps = lambda x: flat
    assert torch.all(m(torch.zeros(1, 3, 64, 64))[1] < 0.05)    # no peak: low confidence


def test_crop_transform_round_trip():
    cfg = PoseConfig()
    M = crop_transform((100.0, 50.0, 40.0, 120.0), cfg)
    pts = np.array([[120.0, 110.0], [100.0, 50.0]])
    crop = pts @ M[:, :2].T + M[:, 2]
    assert np.allclose(crop[0], [32, 32])                       # the box centre is the crop centre
    assert np.allclose(to_image(crop, M), pts)
    assert M[0, 0] == pytest.approx(64 / (120 * cfg.crop_scale))


def test_people_are_drawn_where_their_joints_project():
    rng = np.random.default_rng(2)
    b = B.BodyShape()
    w, pelvis = B.pose_sequence(b, [B.Segment('hips', 1.0)], 10.0, rng)
    cam = B.Camera(6.0, 15.0, 10.0, P.FOCAL_PX, P.SIZE)
    bg = np.full((480, 640, 3), 128, np.uint8)
    cl = P.Clothes((0, 0, 255), (255, 0, 0), (0, 200, 255), (20, 20, 20), (0, 0, 0), False)
    img, px, off = P.render(w[5], pelvis[5], cam, cl, bg)
    assert off == (0, 0) and img.shape == bg.shape
    x, y, bw, bh = P.person_box(px)
    changed = (img != 128).any(-1)
    ys, xs = np.nonzero(changed)
    assert bh == pytest.approx(b.height_m * P.FOCAL_PX / 6.0, rel=0.2)   # a 1.75 m person 6 m away
    assert xs.min() >= x - 5 and xs.max() <= x + bw + 5 and ys.min() >= y - 5 and ys.max() <= y + bh + 5
    assert changed[int(px[1, 1]) + 3, int(px[1, 0])]                       # the body is there
    cx, cy = px[[2, 5, 8, 11]].mean(0)
    assert tuple(img[int(cy), int(cx)]) == (0, 0, 255)                    # the shirt on the torso
    small, px2, off2 = P.render(w[5], pelvis[5], cam, cl, bg, around_person=True)
    assert np.allclose(px, px2) and small.shape[0] < 480
    assert np.array_equal(small, img[off2[1]:off2[1] + small.shape[0], off2[0]:off2[0] + small.shape[1]])


def test_hand_patches_centre_the_wrist_and_leave_the_head_out():
    from uavcine.train.gesture_sim_data import PATCH_PX, hand_patches
    img = np.full((200, 200, 3), 128, np.uint8)
    px = np.zeros((18, 2))
    px[0], px[1], px[2], px[5] = (100, 40), (100, 60), (80, 62), (120, 62)     # nose, neck, shoulders (40 px apart)
    px[4], px[7] = (92, 45), (150, 120)                                       # right hand at the face, left hand low
    img[30:50, 90:110] = (0, 0, 255)                                          # the head (BGR red)
    img[118:123, 148:153] = (255, 0, 0)                                       # something in the left hand (BGR blue)
    p = hand_patches(img, px)
    assert p.shape == (2, 3, PATCH_PX, PATCH_PX)
    red = (p[0, 0] > 200) & (p[0, 2] < 50)                                    # RGB order: red channel first
    assert not red.any()                                                      # the head is masked out
    c = PATCH_PX // 2
    assert p[1, 2, c, c] > 200 and p[1, 0, c, c] < 50                          # the left wrist at the patch centre
