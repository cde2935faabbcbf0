"""eval/eth_ucy_shift: speed and motion statistics of ETH/UCY windows (synthetic values by hand, real table)."""
import numpy as np
import pytest

from uavcine.eval import eth_ucy_shift


def test_motion_by_hand():
    t = np.arange(20.0)
    walker = np.stack([t * 0.4, 0 * t], -1)                      # 0.4 m a 0.4 s step: 1 m/s, straight
    stopper = np.stack([np.minimum(t, 7) * 0.8, 0 * t], -1)      # 2 m/s, stops at the present (step 7)
    m = eth_ucy_shift.motion([np.stack([walker, stopper])])
    assert m['agents'] == 2
    np.testing.assert_allclose(m['v_obs'], [1.0, 2.0], atol=1e-9)
    np.testing.assert_allclose(m['dv'], [0.0, 2.0], atol=1e-9)
    # constant velocity is exact for the walker; for the stopper it overshoots by 0.8 m a step: mean of 0.8*(1..12)
    np.testing.assert_allclose(m['cv_ade'], [0.0, 0.8 * 6.5], atol=1e-9)


def test_table_on_real_eth(shared_data, capsys):
    assert eth_ucy_shift.main(['--data', str(shared_data / 'eth_ucy'), '--splits', 'eth']) == 0
    rows = {r.split('|')[2].strip(): r.split('|') for r in capsys.readouterr().out.splitlines() if r.startswith('| eth')}
    med = {k: float(v[4].split('/')[0]) for k, v in rows.items()}
    assert set(rows) == {'train', 'val', 'test'}
    assert med['test'] > 1.5 * med['train']      # the ETH scene's walkers are faster than the training scenes'
    assert eth_ucy_shift.main(['--data', str(shared_data), '--splits', 'eth']) == 2   # not an ETH/UCY root
