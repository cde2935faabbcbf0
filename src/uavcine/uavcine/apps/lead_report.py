"""The demo's forecast shot (issue #15): the camera leading its target, with and without the forecast.

Two shots of ``eval/lead_eval`` flown in its closed loop (simulator with a commanded gimbal -> the target's truth
box as the track, 0.3 s late as a detector and tracker would be -> geo -> forecast -> pointing -> simulator), each
with leading off and on: ``sim/chase_car_turn_brake.yaml`` (CHASE behind a car that brakes and turns: constant
velocity forecast) and ``sim/walk_person.yaml`` (LATERAL beside a walking person among walking people: SMEMO's K
paths). The report gets lead_eval's figure (the forecast paths on the map, the pointing error over time, the
Kalman speed against the truth) and table, computed by lead_eval's own code.
"""
from __future__ import annotations

import html
import os
import time
from pathlib import Path

from ..eval.lead_eval import HEADER, LEADS as EVAL_LEADS, cells, fly_all, line, plot

SHOTS = ('chase_car_turn_brake', 'walk_person')
LEADS = [run for run in EVAL_LEADS if run.label in ('off', 'on')]   # lead_eval's own runs, leading off and on


def section_html(run_dir: Path, repo: Path, duration_s: float = 0.0, shots=SHOTS) -> tuple:
    """The report's forecast-shot section (writes lead.png beside the report) and the console's lines."""
    esc = html.escape
    t0 = time.perf_counter()
    runs = fly_all(list(shots), repo, leads=LEADS, duration_s=duration_s)
    png = Path(run_dir) / 'lead.png'
    plot(runs, png)
    rows = ['<table><tr>%s</tr>' % ''.join('<th>%s</th>' % esc(h) for h in HEADER)]
    rows += ['<tr>%s</tr>' % ''.join('<td>%s</td>' % esc(c) for c in cells(r)) for r in runs]
    rows.append('</table>')
    head = ('<h2>Forecast shot: leading the target</h2><p>The closed loop of <code>python -m uavcine.eval.lead_eval'
            '</code> (its <code>docs/lead_eval.md</code> explains every column): simulator with a commanded gimbal, '
            'the target\'s truth box as the track 0.3 s after its image (a stand-in for detector + tracker), geo, '
            'forecast (constant velocity for the car, SMEMO for the person: the paths on the map), pointing. '
            'Leading on: the camera aims where the GeoTarget\'s Kalman velocity puts the target just after each command, the '
            'estimate\'s age made up from its stamp, the lead shrunk by how certain that velocity is. '
            'Top: the forecast paths on the map (red: the most likely, orange: all K); middle: the target\'s distance '
            'from the image centre; bottom: the geo Kalman\'s speed against the truth.</p>')
    body = '<img src="%s" style="max-width:100%%">%s' % (esc(os.path.relpath(png, run_dir)), ''.join(rows))
    lines = [line(r) for r in runs] + ['forecast shot: %d runs in %.1f s' % (len(runs), time.perf_counter() - t0)]
    return head + body, lines
