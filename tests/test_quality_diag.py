"""eval/quality_diag.py: which quality features rank the IoU (feature table, LOSO score, forward selection, PNG)."""
import numpy as np
import pytest

from uavcine.eval import quality_diag as Q


def fake(path, seed, n_seq=4, n=40):
    """IoU that 'good' ranks (within and across sequences), 'noise' does not."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(0, 1, n_seq * n)
    good = y + 0.1 * rng.normal(size=len(y))
    noise = rng.normal(size=len(y))
    np.savez(path, features=np.c_[good, noise], iou=y, seq_of=np.repeat(np.arange(n_seq), n),
             names=np.array(['s%d_%d' % (seed, k) for k in range(n_seq)]), keys=np.array(['peak_spread', 'age']))
    return str(path)


def test_table_loso_and_selection_find_the_feature_that_ranks(tmp_path):
    real, sim = Q.load(fake(tmp_path / 'r.npz', 0)), Q.load(fake(tmp_path / 's.npz', 1))
    rows = {r['feature']: r for r in Q.feature_table(real, ['peak_spread', 'age'])}
    assert rows['peak_spread']['pooled'] > 0.9 and abs(rows['age']['pooled']) < 0.3
    assert rows['peak_spread']['within_median'] > 0.9
    good, bad = Q.loso_score(real, sim, ['peak_spread']), Q.loso_score(real, sim, ['age'])
    assert good['real'] > 0.9 and good['sim'] > 0.9 and abs(bad['real']) < 0.3
    path = Q.forward_select(real, sim, ['age', 'peak_spread'])
    assert path[0][0] == ('peak_spread',)
    assert len(Q.first_frames(real, 5)['y']) == 4 * 5


def test_report_cli_writes_the_scatter_and_refuses_unknown_features(tmp_path, capsys):
    r, s = fake(tmp_path / 'r.npz', 0), fake(tmp_path / 's.npz', 1)
    assert Q.main(['report', '--real', r, '--sim', s, '--sets', 'peak_spread;peak_spread,age',
                   '--plot', str(tmp_path / 'q.png')]) == 0
    out = capsys.readouterr().out
    assert '| peak_spread |' in out and out.count('LOSO real') == 2
    assert (tmp_path / 'q.png').stat().st_size > 1000
    with pytest.raises(SystemExit, match='lacks psr'):
        Q.main(['report', '--real', r, '--sets', 'psr'])
    missing = str(tmp_path / 'none.pt')
    assert Q.main(['collect', 'otb:nowhere', '--ckpt', missing, '--out', str(tmp_path / 'x.npz')]) == 2
