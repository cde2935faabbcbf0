"""The findings written under eval.lead_eval's tables (docs/lead_eval.md): what its numbers say, round by round.

Kept apart from the evaluation code so that lead_eval.py stays readable; every number here is one the command
``python -m uavcine.eval.lead_eval --out docs/lead_eval.md --png docs/lead_eval.png`` writes in those tables (or, where
said, the same command at an earlier commit).
"""

FINDINGS = """## The geo filter's velocity, made to tell the truth (docs/kalman_consistency.md)

The filter's velocity was overconfident (NEES 11.1 / 8.3 / 5.8 off-lead on the chase car / lateral car / person, 2
where right), so the certainty shrink did almost nothing. docs/kalman_consistency.md diagnoses it on other scenes
(orbit_car, the same with a hard-braking car, six random car scenes, person_occlusion, gesture_orbit; not these
three): the GPS's white noise (half its variance in the simulator) was taken for a bias, so frame-to-frame GPS
jitter read as target motion; and a car that corners at speed needs more process noise than 0.5 m/s^2. The geo
node now fuses the white half of the GPS's and the attitude's variance (``correlated_fractions``) and sets the
process noise per class (``class_accel_sigmas``: person 0.5, car 1.0 m/s^2), both chosen there. Here, unchanged
(rows "off"; before: commit 1d45f1a's docs/lead_eval.md, the same command):

- velocity NEES: chase car 11.1 -> 2.5, lateral car 8.3 -> 2.2, person 5.8 -> 1.1; rms velocity error 1.52 -> 1.41,
  1.31 -> 1.34, 1.05 -> 0.55 m/s (the figure's bottom row);
- the estimate's error (median px): 19.2 -> 17.9, 21.8 -> 21.7, 36.9 -> 38.1;
- the gimbal, median (mean) off -> on: chase 31.7 -> 18.2 (32.2 -> 21.4), before 31.7 -> 18.7 (32.3 -> 21.9);
  lateral 34.2 -> 16.7 (31.8 -> 19.6), before 34.3 -> 16.6 (31.6 -> 19.6); person 20.9 -> 21.4 (25.9 -> 25.1, p90
  45.7 -> 41.3), before 21.2 -> 20.9 (25.5 -> 25.4). The person's median is 0.5 px worse with leading on (its mean
  and p90 better): the lead cannot beat the estimate's own error there, the simulator's true velocity gets 21.0
  (below, "What leading cannot fix"). The shrink now acts on the person (not shrunk: 22.2 px).
- the emulated ROI, ``roi_lead_s`` 0 -> 0.25 s, median (mean): chase 29.2 -> 18.8 (43.9 -> 18.7), lateral 25.5 ->
  16.3 (42.5 -> 18.4), person 20.8 -> 17.8 (22.6 -> 19.1). Before, the person's got worse (19.3 -> 21.6, mean 22.0 ->
  23.5): leading the ROI now helps all three shots, the person's by 3 px (the true velocity: 14.3). Not shrunk the
  person's is 16.9: the shrink costs it 0.9 px (its velocity NEES, 1.1, is now a little under 2: P_v a little
  large), kept because it is what keeps a standing target's ROI still.

The sections below are from before this calibration (commit 1d45f1a; their numbers are that commit's, the same
command).

## Before the calibration: leading that never hurts

Before this round the pointing node led along the forecast node's most likely path (the rows "on, forecast path,
not shrunk"): the cars gained, the walking person lost (median 21.2 -> 23.5 px, mean 25.5 -> 27.3). The columns
say why: the lag along the person's motion went (+6.2 -> -0.3 px) but the error across it grew (14.3 -> 14.8 px).
The forecast path is the older, noisier velocity over a lead of tenths of a second: it is made 2.5 times a second
from positions resampled at 0.4 s (SMEMO's first step is a displacement over 0.4 s, the cars' constant velocity a
line through 1.2 s of positions), up to 0.4 s before the newest estimate, while the geo node's Kalman velocity
comes with every estimate. The pointing node now leads at the GeoTarget's own velocity (`lead_source` velocity;
the forecast stays an option), shrunk by how certain that velocity is: k = |v|^2 / (|v|^2 + tr P_v), the Wiener
gain of a displacement seen through the filter's velocity noise (the GeoTarget now carries that covariance), in
`core/lead.py`, the function the MAVLink bridge leads its ROI with too. A person standing still, whose velocity is
only noise, gets k of about one half (where P_v is right); a car at 12 m/s keeps k ~ 1. Leading on is now no worse than off on
every shot: chase car median 31.7 -> 18.7 px (mean 32.3 -> 21.9), lateral car 34.3 -> 16.6 (31.6 -> 19.6), walking
person 21.2 -> 20.9 (25.5 -> 25.4): the cars gain more than with the forecast path (19.6, 17.9), the person no
longer loses, but gains next to nothing.

The shrink is mild here (rows "not shrunk": within 0.6 px) because the filter is sure of itself: its velocity NEES
(last column) is several times the 2 its covariance promises, on every shot. Its velocity error is larger than its
covariance says (white-acceleration noise `accel_sigma` 0.5 m/s^2 for a person who stops and turns, and box
errors that change from frame to frame treated as biases); scaling P_v up by a factor fitted to these shots would
tune on the data that judges it, and it is the geo node's to fix. Left as it is.

## Before the calibration: what leading cannot fix

Leading can only make up the target's motion while its estimate aged (the column "target motion while the estimate
aged": about 10 px on every shot). On the walking person the estimate's own error is four times that (median 37
px, Kalman GeoTarget against the truth at its stamp): the row with the simulator's true velocity put into the
GeoTarget, the best any lead could do with this estimate, is no better than leading off on the median. What is
left there is geolocation (geo's box-to-ground error for a small, walking target at 15 m, its attitude), not
timing. On the cars the true velocity gains a little more than the Kalman one (its lag while the car brakes: the
bottom row of the figure); the rest of their error is the estimate's (about 20 px) and the attitude jumps (the
column without them).

The ROI (the table above): leading it by `roi_lead_s` 0.25 s makes up most of the cars' lag (chase median 29.0 ->
18.6 px, mean 43.8 -> 20.4; lateral 25.7 -> 16.0, 42.5 -> 18.2), but the walking person's ROI gets worse (19.3 ->
21.6 px, mean 22.0 -> 23.5): the target of "never worse" is missed there. The location is held for 0.5 s and led
over the estimate's age + `roi_lead_s` (about 0.6 s, against the pointing node's 0.4 s): its lag along the
person's motion goes (+0.75 -> +0.04 m), but the velocity's noise, about the person's speed, moves it about as much
(median distance 0.89 -> 1.02 m); the certainty shrink takes back only a little of it (not shrunk: 22.5 px), the
filter being too sure of its velocity (above). With the simulator's true velocity in the GeoTargets the same lead
takes the person's ROI from 19.3 to 15.9 px (the cars' to 12.9 and 14.4): what is missing is a velocity as good as
the lead needs, the geo node's filter (its noise model), not the rule nor `roi_lead_s`. `roi_lead_s` stays 0.25 s
(half the hold: the cars' gain); 0 sends the estimate as before, the choice for filming people until then.

## Earlier: why leading did not help at first, and what changed

Before (commit 4b35807, the same command then: `lead_s` after the estimate's image stamp) leading by the measured
latency left every shot's error as it was (its docs/lead_eval.md). Three things in the pointing path and one in
the simulator, found by replaying each command with the simulator's truth put in for one of its inputs at a time
(the drone's position, its attitude, the target's estimate; an exploration script, not kept):

1. **The drone's own position was as late as the target's.** Pointing aimed from the newest GPS fix, 0.1-0.3 s old
   (latency, 5 Hz) with its 1 m white noise. In a CHASE or a LATERAL the drone moves with the target, so a stale
   drone position partly cancels a stale target position: leading the target alone moved the error to the other side
   instead of removing it. Now the position is the line geo fits to the fixes around the estimate's image stamp
   (`fix_fit_window_s`), carried to the command time: the GPS error it shares with the GeoTarget cancels as well.
   The rows "newest fix as is" fly the old way: less lag without leading, and leading swings it past the target
   (the column along the motion) for no gain.
2. **The estimate's age varies, a fixed lead does not.** The aim time is now the command time + `lead_s`, the
   estimate moved along the forecast from its own stamp: the age (detector, tracker, geo, queueing; the column above)
   is made up exactly, command by command. The simulated gimbal takes a command at once (no actuation delay of its
   own), so what follows the command is only its hold until the next one: `lead_s` = half the period, 0.05 s at
   10 Hz, set from that, not tuned on these shots.
3. **The slew limit was on the gimbal's angles to the body**, so a body that yaws fast (the chase's turn) dragged the
   camera with it at up to the limit; it is now on the camera's direction in the world (`core.pointing.slew_in_world`).
   The simulator's commanded gimbal is stabilised the same way (it holds the commanded direction in the world between
   commands, as a 3-axis gimbal does, instead of riding the body's tilt).
4. **The simulated body's attitude jumped**, tens of degrees within 0.05 s where the nominal path's heading rate
   steps (its tilt followed a second difference of the path over 0.05 s), and made most of the mean and the p90,
   with and without leading alike: a command computed from the IMU just before a jump is off for the 0.1 s it
   holds. These three scenarios now set `shot.tilt_window_s: 0.25` (an airframe's attitude loop follows its
   acceleration over some 0.2-0.3 s); the simulator's default stays 0.05 s for every other scenario. The column
   without the frames after a jump (JUMP_DEG) shows what is left of them.

What was left then: on the walking person leading removed the lag along its motion but the error did not fall
(above: the forecast path's noise; and the estimate's error). Leading is the pointing node's for vehicles steered by
gimbal angles (the simulator, AirSim), and the MAVLink bridge's ROI (`roi_lead_s`) for ArduPilot.
"""
