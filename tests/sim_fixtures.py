"""Small, fast simulator scenes for the sim tests (a 200 m world at 0.5 m texels, no random clutter)."""
import copy

from uavcine.sim import Scenario, Simulator


def small_scenario(**over) -> Scenario:
    d = {
        'name': 'small', 'seed': 3, 'duration_s': 4.0,
        'world': {'extent_m': [-100.0, 100.0, -100.0, 100.0], 'texture_res_m': 0.5, 'roads': 1, 'tracks': 1,
                  'footprints': 5, 'trees': 0, 'buildings': 0, 'forest_patches': 0},
        'camera': {'rate_hz': 10.0},
        'gimbal': {'mode': 'fixed', 'pitch_deg': 30.0},
        'shot': {'type': 'HOVER', 'waypoints': [[0.0, 0.0]], 'altitude_m': 30.0, 'point': [50.0, 0.0],
                 'yaw': 'target', 'wobble_deg': 0.0, 'position_wobble_m': 0.0, 'tilt_gain_deg_per_mps': 0.0},
        'targets': [],
    }
    d = copy.deepcopy(d)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(d.get(k), dict):
            d[k].update(v)
        else:
            d[k] = v
    return Scenario.from_dict(d)


def small_sim(seed=None, **over) -> Simulator:
    return Simulator(small_scenario(**over), seed=seed)
