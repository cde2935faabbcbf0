"""eval.geo_eval on the pure-geometry fixture: noise model, records, table, figures, command line."""
import math

import numpy as np
import pytest

from uavcine.core.geoposition import Telemetry
from uavcine.eval import geo_eval as ge


def small(flight, every=6):
    flight.samples = flight.samples[::every]
    return flight


def test_gauss_markov_gps_is_correlated_and_white_is_not():
    s = ge.Sample(0.0, 1, 'tower', (0, 0, 1, 1), np.zeros(3), Telemetry(np.zeros(3), np.zeros(3), np.zeros(3), 30.0))
    def series(tau):
        n = ge.NoisyTelemetry(ge.NoiseModel(gps_tau_s=tau), seed=3)
        out = []
        for k in range(3000):
            s.t = 0.1 * k
            out.append(n.apply(s).vehicle_enu[0])
        return np.array(out)
    gm, white = series(60.0), series(0.0)
    lag1 = lambda x: np.corrcoef(x[:-1], x[1:])[0, 1]
    assert lag1(gm) > 0.99 and abs(lag1(white)) < 0.1
    assert 1.2 < white.std() < 1.8  # 1.5 m per axis


@pytest.mark.slow
def test_evaluate_fixture_records_and_table():
    flight = small(ge.fixture_flight('seed'))
    assert flight.samples and all(s.cls == 'tower' for s in flight.samples)
    rec = ge.evaluate(flight, ge.NoiseModel(), seed=0)
    assert set(rec) == {'seed', 'raw', 'filtered'}
    assert len(rec['raw']) == len(flight.samples)
    ok = [r for r in rec['filtered'] if r.ok]
    assert len(ok) > 0.95 * len(rec['filtered'])
    r = ok[len(ok) // 2]
    assert r.h_err == pytest.approx(float(np.hypot(*r.err_xy)))
    text = ge.table([rec], ['raw', 'filtered'])
    assert text.count('\n') == 2 + 2 * (len(ge.RANGE_BINS) + 1) - 1
    s = ge.bin_stats(rec['filtered'], 60, 100)
    assert s['n_ok'] > 0 and 0.0 <= s['coverage'] <= 1.0 and s['median'] < 10.0


@pytest.mark.slow
def test_no_noise_fixture_is_nearly_exact_beyond_truncation():
    zero = ge.NoiseModel(gps_sigma_m=0.0, att_sigma_deg=0.0, gimbal_sigma_deg=0.0, agl_sigma_m=0.0)
    rec = ge.evaluate(small(ge.fixture_flight('seed')), zero, seed=0)
    # box bottom = nearest base corner, corrected by the 3.8 m footprint prior; cross-arms move the box centre
    s = ge.bin_stats(rec['raw'], 60, 200)
    assert s['median'] < 1.5


@pytest.mark.slow
def test_terrain_removes_the_flat_earth_bias_on_the_hilly_fixture():
    rec = ge.evaluate(small(ge.fixture_flight('hilly'), every=10), ge.NoiseModel(), seed=1)
    flat = ge.bin_stats(rec['filtered'], 60, 150)
    terrain = ge.bin_stats(rec['filtered_terrain'], 60, 150)
    assert abs(terrain['bias']) < 0.25 * abs(flat['bias'])
    assert terrain['median'] < 0.5 * flat['median']


@pytest.mark.slow
def test_run_eval_writes_figures_and_report(tmp_path, monkeypatch):
    monkeypatch.setattr(ge, 'fixture_flight', lambda kind, rate_hz=10.0, _f=ge.fixture_flight: small(_f(kind), 12))
    text = ge.run_eval(['fixture:seed'], tmp_path, seeds=1, noise=ge.NoiseModel(), accel_sigma=0.5, command='x')
    assert (tmp_path / 'geo_eval.md').read_text() == text
    for suffix in ('angular', 'distance', 'map'):
        assert (tmp_path / ('geo_fixture_seed_%s.png' % suffix)).stat().st_size > 10000
    assert '| filtered | 60-100 m |' in text


def test_command_line_errors_are_one_line(capsys):
    assert ge.main(['does/not/exist.yaml', '--out', '/tmp/unused_geo_eval']) == 2
    assert 'does not exist' in capsys.readouterr().err
    assert ge.main(['fixture:seed', '--seeds', '0']) == 2


def test_registers_a_uavcine_subcommand():
    import argparse
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest='cmd')
    ge.register(sub)
    args = p.parse_args(['eval-geo', 'fixture:seed', '--seeds', '2', '--gps-tau', '0'])
    assert args.func is ge.cmd_eval_geo and args.seeds == 2 and args.gps_tau == 0.0
    assert math.isclose(args.att_sigma, 0.5)


@pytest.mark.slow
def test_drone_gps_error_passes_one_to_one_into_the_estimate():
    """Only a drifting GPS error: the estimate's absolute error is about the drone's GPS error, and relative to the
    reported drone position it is what the noise-free geometry gives (the GPS column is the floor of the table)."""
    gps_only = ge.NoiseModel(gps_sigma_m=1.5, gps_tau_s=60.0, att_sigma_deg=0.0, gimbal_sigma_deg=0.0, agl_sigma_m=0.0)
    zero = ge.NoiseModel(gps_sigma_m=0.0, att_sigma_deg=0.0, gimbal_sigma_deg=0.0, agl_sigma_m=0.0)
    flight = small(ge.fixture_flight('seed'))
    noisy, exact = ge.evaluate(flight, gps_only, seed=2), ge.evaluate(flight, zero, seed=2)
    a, b = ge.bin_stats(noisy['raw'], 60, 200), ge.bin_stats(exact['raw'], 60, 200)
    assert a['gps_median'] > 0.3 and b['gps_median'] == 0.0
    assert a['rel_median'] == pytest.approx(b['median'], abs=1e-6)
    r = next(r for r in noisy['raw'] if r.ok)
    assert np.hypot(*r.gps_err_xy) > 0
    assert '| drone GPS error, median (m) |' in ge.table([noisy], ['raw'])
