"""Embedded aerial simulator (offline tool, Python 3.11): world, shots, CPU renderer, sensors, ground truth.

    from uavcine.sim import load_scenario, Simulator
    sim = Simulator(load_scenario('sim/flight_test_towers.yaml'), seed=0)
    for frame in sim.frames():
        frame.rgb, frame.truth, frame.telemetry, frame.depth, frame.flow

Random scenes for datasets: ``Simulator(random_scenario(seed))``.
See simulator.py for the frame contents, scenario.py for the YAML schema.
"""
from .scenario import Scenario, ScenarioError, load_scenario, random_scenario
from .simulator import Frame, Simulator, TargetTruth, Telemetry, START_NS

__all__ = ['Scenario', 'ScenarioError', 'load_scenario', 'random_scenario', 'Simulator', 'Frame',
           'TargetTruth', 'Telemetry', 'START_NS']
