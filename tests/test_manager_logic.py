"""The detect/track manager as pure logic: states, target choice, re-initialisation, time window."""
import pytest

from uavcine.core import manager as M
from uavcine.core.manager import Detection, Manager, ManagerConfig


def det(x, y, score=0.9, cls='car', w=20, h=10, app=None):
    return Detection((x, y, w, h), score, cls, app)


def test_starts_detecting_and_asks_for_detections():
    m = Manager()
    out = m.on_tracker(0.0, None, 0.0)
    assert out.state == M.DETECTING and out.request_detections and out.box is None
    assert m.on_detections(0.0, []) is None
    assert m.state == M.DETECTING


def test_class_filter_then_most_confident():
    m = Manager(ManagerConfig(target_classes=['car'], min_score=0.5))
    cmd = m.on_detections(0.0, [det(0, 0, 0.99, 'person'), det(100, 0, 0.6), det(200, 0, 0.8), det(300, 0, 0.4)])
    assert cmd.box == (200, 0, 20, 10) and cmd.reason == 'new' and cmd.track_id == 1 and cmd.class_id == 'car'
    assert m.state == M.TRACKING


def test_tracking_weak_occluded_lost_then_given_up():
    m = Manager(ManagerConfig(quality_threshold=0.5, max_weak_frames=2, max_lost_s=1.0))
    m.on_detections(0.0, [det(10, 10)])
    out = m.on_tracker(0.1, (11, 10, 20, 10), 0.8)
    assert out.state == M.TRACKING and out.box == (11, 10, 20, 10) and not out.request_detections
    assert out.age_s == pytest.approx(0.1)
    assert m.on_tracker(0.2, (11, 10, 20, 10), 0.2).state == M.OCCLUDED
    out = m.on_tracker(0.3, (11, 10, 20, 10), 0.2)
    assert out.state == M.OCCLUDED and out.request_detections  # detect_while_weak
    out = m.on_tracker(0.4, (11, 10, 20, 10), 0.2)
    assert out.state == M.LOST and out.request_detections and out.box == (11, 10, 20, 10)  # held box
    assert m.tracker_wanted  # the tracker keeps searching around the held box
    assert m.on_tracker(1.0, (11, 10, 20, 10), 0.2).state == M.LOST
    out = m.on_tracker(1.2, (11, 10, 20, 10), 0.2)  # lost for longer than max_lost_s: given up
    assert out.state == M.LOST and not m.tracker_wanted
    out = m.on_tracker(1.3, None, 0.0)
    assert out.state == M.DETECTING and out.box is None and out.request_detections


def test_lost_track_recovers_by_itself():
    m = Manager(ManagerConfig(quality_threshold=0.5, max_weak_frames=0))
    m.on_detections(0.0, [det(10, 10)])
    assert m.on_tracker(0.1, (10, 10, 20, 10), 0.1).state == M.LOST
    out = m.on_tracker(0.2, (12, 10, 20, 10), 0.9)
    assert out.state == M.TRACKING and out.track_id == 1


def test_quality_recovery_resets_weak_count():
    m = Manager(ManagerConfig(quality_threshold=0.5, max_weak_frames=1))
    m.on_detections(0.0, [det(10, 10)])
    assert m.on_tracker(0.1, (10, 10, 20, 10), 0.1).state == M.OCCLUDED
    assert m.on_tracker(0.2, (10, 10, 20, 10), 0.9).state == M.TRACKING
    assert m.on_tracker(0.3, (10, 10, 20, 10), 0.1).state == M.OCCLUDED


def test_time_window_asks_again_and_refreshes_same_target():
    m = Manager(ManagerConfig(track_window_s=1.0))
    m.on_detections(0.0, [det(10, 10)])
    assert not m.on_tracker(0.5, (12, 10, 20, 10), 0.9).request_detections
    out = m.on_tracker(1.0, (14, 10, 20, 10), 0.9)
    assert out.request_detections
    # the detector confirms the confident track (IoU >= refresh_iou): the tracker is re-employed, window re-armed
    assert m.on_detections(1.0, [det(200, 100, 0.99), det(15, 11, 0.7)]) is None
    out = m.on_tracker(1.1, (15, 11, 20, 10), 0.9)
    assert out.age_s == pytest.approx(1.1) and not out.request_detections and out.class_score == 0.7
    # at the next window end the tracker has drifted half off the detection: restarted on it, same id
    assert m.on_tracker(2.0, (18, 10, 20, 10), 0.9).request_detections  # IoU 0.43 with the detection
    cmd = m.on_detections(2.0, [det(10, 10, 0.8)])
    assert cmd.reason == 'refresh' and cmd.box == (10, 10, 20, 10) and cmd.track_id == 1
    assert m.on_tracker(2.1, (10, 10, 20, 10), 0.9).age_s == pytest.approx(0.1)


def test_window_over_but_target_not_detected_keeps_confident_tracker():
    m = Manager(ManagerConfig(track_window_s=1.0))
    m.on_detections(0.0, [det(10, 10)])
    m.on_tracker(1.2, (14, 10, 20, 10), 0.9)
    assert m.on_detections(1.2, [det(300, 200)]) is None  # a far other car does not take over
    out = m.on_tracker(1.3, (15, 10, 20, 10), 0.9)
    assert out.state == M.TRACKING and out.track_id == 1 and not out.request_detections  # window re-armed


def test_reacquire_closest_to_previous_track_keeps_id():
    m = Manager(ManagerConfig(max_weak_frames=0))
    m.on_detections(0.0, [det(100, 100)])
    m.on_tracker(0.1, (100, 100, 20, 10), 0.9)
    assert m.on_tracker(0.2, (70, 100, 20, 10), 0.0).state == M.LOST  # the held box drifted off the target
    cmd = m.on_detections(0.3, [det(400, 300, 0.99), det(110, 104, 0.6)])
    assert cmd.reason == 'reacquire' and cmd.box == (110, 104, 20, 10) and cmd.track_id == 1


def test_far_detections_wait_while_lost_then_start_a_new_track():
    m = Manager(ManagerConfig(max_weak_frames=0, gate=2.0, gate_growth_per_s=0.0, max_lost_s=1.0))
    m.on_detections(0.0, [det(100, 100)])
    m.on_tracker(0.1, (100, 100, 20, 10), 0.1)
    assert m.on_detections(0.3, [det(400, 300, 0.7), det(500, 300, 0.95)]) is None  # still searching
    m.on_tracker(1.5, (100, 100, 20, 10), 0.1)  # given up
    cmd = m.on_detections(1.5, [det(400, 300, 0.7), det(500, 300, 0.95)])
    assert cmd.reason == 'new' and cmd.box == (500, 300, 20, 10) and cmd.track_id == 2


def test_previous_track_is_forgotten_after_forget_s():
    m = Manager(ManagerConfig(max_weak_frames=0, forget_s=1.0, max_lost_s=0.5))
    m.on_detections(0.0, [det(100, 100)])
    m.on_tracker(0.1, (100, 100, 20, 10), 0.1)
    m.on_tracker(1.0, (100, 100, 20, 10), 0.1)  # given up
    cmd = m.on_detections(5.0, [det(125, 100, 0.6), det(500, 300, 0.95)])
    assert cmd.reason == 'new' and cmd.box == (500, 300, 20, 10)


def test_appearance_vetoes_a_look_alike_distractor():
    m = Manager(ManagerConfig(min_appearance=0.6, track_window_s=0.5))
    m.on_detections(0.0, [det(100, 100)])
    m.on_tracker(0.1, (100, 100, 20, 10), 0.2)  # weak: occluded
    # an overlapping detection that does not look like the target, and the target a bit further
    cmd = m.on_detections(0.2, [det(102, 100, 0.9, app=0.2), det(130, 100, 0.8, app=0.9)])
    assert cmd.box == (130, 100, 20, 10) and cmd.reason == 'reacquire' and cmd.track_id == 1


def test_occluded_with_nothing_near_keeps_holding():
    m = Manager(ManagerConfig(gate=1.0, gate_growth_per_s=0.0))
    m.on_detections(0.0, [det(100, 100)])
    m.on_tracker(0.1, (100, 100, 20, 10), 0.1)
    assert m.on_detections(0.2, [det(400, 300)]) is None
    assert m.state == M.OCCLUDED and m.track_id == 1


def test_tracker_failure_goes_back_to_detecting():
    m = Manager()
    m.on_detections(0.0, [det(100, 100)])
    out = m.on_tracker(0.1, None, 0.0, failed=True)
    assert out.state == M.LOST and out.request_detections and out.box is not None
    assert m.on_tracker(0.2, None, 0.0).state == M.DETECTING
    m.on_detections(0.3, [det(100, 100)])
    m.tracker_init_failed(0.3, 'bad box')
    assert m.state == M.DETECTING


@pytest.mark.parametrize('acquire, size, expect', [
    ('centre', (640, 480), (300, 220, 40, 40)),   # the framed one, though less confident
    ('score', (640, 480), (20, 20, 40, 40)),      # the most confident
    ('centre', None, (20, 20, 40, 40)),           # no image size: falls back to the most confident
])
def test_new_target_nearest_the_centre_or_most_confident(acquire, size, expect):
    m = Manager(ManagerConfig(acquire=acquire))
    dets = [Detection((20, 20, 40, 40), 0.95, 'car'), Detection((300, 220, 40, 40), 0.6, 'car'),
            Detection((500, 400, 40, 40), 0.9, 'car')]
    cmd = m.on_detections(0.0, dets, size)
    assert cmd.reason == 'new' and cmd.box == expect


def test_track_states_are_the_ones_of_track_msg():
    """The manager's state constants are the one Python definition of Track.msg's STATE_*; nothing else defines them."""
    import ast
    import re
    from pathlib import Path
    repo = Path(__file__).resolve().parents[1]
    text = (repo / 'src' / 'uavcine_interfaces' / 'msg' / 'Track.msg').read_text()
    msg = {k: int(v) for k, v in re.findall(r'^uint8 STATE_(\w+)=(\d+)', text, re.M)}
    assert msg == {'NONE': M.NONE, 'DETECTING': M.DETECTING, 'TRACKING': M.TRACKING, 'OCCLUDED': M.OCCLUDED,
                   'LOST': M.LOST}
    assert set(M.STATE_NAMES) == set(msg.values())
    others = []
    for path in (repo / 'src').rglob('*.py'):
        if path.name == 'manager.py':
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and \
                    any(isinstance(t, ast.Name) and re.fullmatch(r'(TRACK_STATE_)?(TRACKING|OCCLUDED|LOST|DETECTING)',
                                                                 t.id) for t in node.targets):
                others.append('%s:%d' % (path.relative_to(repo), node.lineno))
    assert not others, others


def test_confident_partly_overlapping_detection_reanchors_a_drifted_track():
    """The demo's thin tower: the tracker slid up the tower at good quality; the tower's detection overlaps the
    tracked box only partly (IoU < reinit_iou) and re-anchors the track, same id."""
    m = Manager(ManagerConfig(track_window_s=1.0, target_classes=['tower']))
    m.on_detections(0.0, [det(100, 100, 0.9, 'tower', w=20, h=100)])
    m.on_tracker(1.0, (100, 60, 20, 60), 0.8)  # drifted up: IoU 0.14 with the tower's box
    weak = det(100, 100, 0.6, 'tower', w=20, h=100)  # not confident enough: no change
    assert m.on_detections(1.0, [weak]) is None and m.box == (100, 60, 20, 60)
    other = det(100, 100, 0.95, 'car', w=20, h=100)  # another class never re-anchors
    assert m.on_detections(1.0, [other]) is None
    cmd = m.on_detections(1.0, [det(101, 100, 0.9, 'tower', w=20, h=100)])
    assert cmd.reason == 'refresh' and cmd.box == (101, 100, 20, 100) and cmd.track_id == 1
    m2 = Manager(ManagerConfig(track_window_s=1.0, reanchor_score=0.0))  # switched off: the old behaviour
    m2.on_detections(0.0, [det(100, 100, 0.9, 'tower', w=20, h=100)])
    m2.on_tracker(1.0, (100, 60, 20, 60), 0.8)
    assert m2.on_detections(1.0, [det(101, 100, 0.9, 'tower', w=20, h=100)]) is None


def test_hold_only_for_max_hold_frames_in_a_row():
    m = Manager(ManagerConfig(max_hold_frames=2))
    m.on_detections(0.0, [det(10, 10)])
    assert not m.holds(0.9)
    held = []
    for k in range(4):
        held.append(m.holds(0.1))
        m.on_tracker(0.1 * (k + 1), (10, 10, 20, 10), 0.1)
    assert held == [True, True, False, False]  # past the budget the tracker follows its response again
    m.on_tracker(0.6, (10, 10, 20, 10), 0.9)  # a good frame restores the budget
    assert m.holds(0.1) and not Manager(ManagerConfig(max_hold_frames=0)).holds(0.1)


def test_a_weak_frame_holds_only_below_hold_quality():
    """Weak (asks the detector) and hold (undo the move) are two decisions: between hold_quality and
    quality_threshold a frame is weak but the tracker follows its response."""
    m = Manager(ManagerConfig(quality_threshold=0.5, hold_quality=0.3, max_hold_frames=3))
    m.on_detections(0.0, [det(10, 10)])
    assert m.is_weak(0.4) and not m.holds(0.4)
    assert m.holds(0.2) and m.holds(float('nan'))
    out = m.on_tracker(0.1, (12, 10, 20, 10), 0.4)
    assert out.state == M.OCCLUDED and out.request_detections  # weak: the detector is asked all the same


def test_a_decayed_track_asks_the_detector_and_takes_the_confirming_box():
    """confirm_quality: a TRACKING frame below it asks the detector (at most every confirm_interval_s, long before
    the window's end), and a confirming detection (IoU >= refresh_iou) then restarts the tracker on its box: the
    box of a target that grew keeps up with it."""
    m = Manager(ManagerConfig(track_window_s=5.0, confirm_quality=0.8, confirm_interval_s=1.0))
    m.on_detections(0.0, [det(10, 10, w=20, h=40)])
    assert not m.on_tracker(0.5, (10, 10, 20, 40), 0.7).request_detections  # the start's box is fresh
    assert not m.on_tracker(1.0, (10, 10, 20, 40), 0.9).request_detections  # above confirm_quality
    assert m.on_tracker(1.1, (10, 10, 20, 40), 0.7).request_detections      # decayed: asks
    assert not m.on_tracker(1.2, (10, 10, 20, 40), 0.7).request_detections  # not again within the interval
    assert m.on_tracker(2.1, (10, 10, 20, 40), 0.7).request_detections      # again after it
    assert m.state == M.TRACKING
    # the target grew: the detection overlaps the box enough to confirm it (IoU 0.67) but is larger
    cmd = m.on_detections(2.1, [det(10, 10, 0.9, w=24, h=50)])
    assert cmd is not None and cmd.reason == 'refresh' and cmd.box == (10, 10, 24, 50) and cmd.track_id == 1
    # after the restart the new box's quality is high again: no asking until it decays
    assert not m.on_tracker(3.5, (10, 10, 24, 50), 0.95).request_detections
    # a confident track is only confirmed, as before
    assert m.on_detections(3.5, [det(10, 10, 0.9, w=24, h=52)]) is None


def test_confirm_quality_off_keeps_the_window_rule():
    m = Manager(ManagerConfig(track_window_s=5.0))  # confirm_quality 0: the default
    m.on_detections(0.0, [det(10, 10, w=20, h=40)])
    assert not any(m.on_tracker(0.1 * k, (10, 10, 20, 40), 0.55).request_detections for k in range(1, 40))
    assert m.on_detections(3.9, [det(10, 10, 0.9, w=24, h=50)]) is None  # confirmed only


def test_confirm_scale_restarts_only_on_a_detection_of_another_size():
    """confirm_scale: a decayed track is restarted on a confirming detection only when the detection's size differs
    from the box's by more than the factor (the scale SiamFC did not follow); a same-size one only confirms it."""
    cfg = ManagerConfig(track_window_s=5.0, confirm_quality=0.8, confirm_interval_s=0.0, confirm_scale=1.1)
    m = Manager(cfg)
    m.on_detections(0.0, [det(10, 10, w=20, h=40)])
    assert m.on_tracker(0.1, (10, 10, 20, 40), 0.7).request_detections
    assert m.on_detections(0.1, [det(11, 10, 0.9, w=20, h=41)]) is None         # 1.01x: confirmed, kept
    assert m.on_tracker(0.2, (10, 10, 20, 40), 0.7).request_detections
    cmd = m.on_detections(0.2, [det(10, 10, 0.9, w=23, h=46)])                   # 1.15x larger: restarted on it
    assert cmd is not None and cmd.reason == 'refresh' and cmd.box == (10, 10, 23, 46)
    m.on_tracker(0.3, (10, 10, 23, 46), 0.7)
    cmd = m.on_detections(0.3, [det(12, 12, 0.9, w=20, h=40)])                   # 1.15x smaller: restarted too
    assert cmd is not None and cmd.box == (12, 12, 20, 40)
