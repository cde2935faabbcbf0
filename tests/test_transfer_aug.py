"""Transfer augmentation (issue #21): each real-video degradation changes the image the way it should, p=0 is the
identity, the same seed gives the same image, and detr_train's batches use it only when asked."""
import numpy as np
import pytest

from uavcine.train import transfer_aug as T


def scene(h=48, w=64):
    rng = np.random.default_rng(0)
    img = np.full((h, w, 3), 90, np.float32)
    img[10:30, 20:40] = (200, 60, 40)   # a saturated red object with sharp edges
    return img + rng.normal(0, 0.5, img.shape).astype(np.float32)


def test_identity_at_p0_and_deterministic_per_seed():
    img = scene()
    assert np.array_equal(T.degrade(img, np.random.default_rng(1), T.TransferAugConfig(p=0.0)), img)
    a = T.degrade(img, np.random.default_rng(5), T.TransferAugConfig(p=1.0))
    b = T.degrade(img, np.random.default_rng(5), T.TransferAugConfig(p=1.0))
    assert np.array_equal(a, b) and a.dtype == np.float32 and a.shape == img.shape
    assert a.min() >= 0 and a.max() <= 255


@pytest.mark.parametrize('seed', range(3))
def test_each_step_does_what_it_says(seed):
    img, cfg = scene(), T.TransferAugConfig()
    rng = np.random.default_rng(seed)
    hz = T.haze(img, rng, cfg)
    assert hz[15, 25].std() < img[15, 25].std()            # the red object fades towards the grey airlight
    bl = T.blur(img, rng, cfg)
    edge = lambda z: np.abs(np.diff(z[:, :, 0], axis=1)).max()  # noqa: E731
    assert edge(bl) < edge(img)                             # sharp edges soften
    col = T.colour(img, rng, T.TransferAugConfig(saturation_range=(0.4, 0.5)))
    assert np.ptp(col[15, 25]) < np.ptp(img[15, 25])        # less saturated
    nz = T.noise(img, rng, cfg)
    assert 0.5 < np.std(nz - img) < 10
    jp = T.jpeg(img, rng, cfg)
    assert jp.shape == img.shape and 0 < np.abs(jp - img).mean() < 20


def test_detr_batches_use_it_only_when_asked():
    from detr_fixtures import tiny_config
    from uavcine.train.detr_train import make_batch

    class DS:
        W, H = 96, 64
        images = np.full((2, 64, 96, 3), 120, np.uint8)
        boxes = [np.array([[10, 10, 30, 40]], np.float32)] * 2
        labels = [np.array([0])] * 2
    cfg = tiny_config()
    plain, _ = make_batch(DS(), [0, 1], cfg, np.random.default_rng(0), 0.0, True)
    again, _ = make_batch(DS(), [0, 1], cfg, np.random.default_rng(0), 0.0, True, 0.0)
    aug, t = make_batch(DS(), [0, 1], cfg, np.random.default_rng(0), 0.0, True, 1.0)
    assert np.array_equal(plain.numpy(), again.numpy()) and not np.allclose(plain.numpy(), aug.numpy())
    assert len(t) == 2 and t[0]['boxes'].shape == (1, 4)
