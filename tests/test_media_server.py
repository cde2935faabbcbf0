"""media_server: shot boundaries and keyframes as a service, on a video file and a bag; bad input -> reasons."""
import cv2
import numpy as np
import pytest

from uavcine.eval.shot_sim import ShotVideoConfig, make_shot_video, score
from uavcine.nodes import msgs
from uavcine.nodes.media_server import MediaServerNode
from uavcine.offline.bag import BagWriter
from uavcine.offline.host import OfflineHost
from uavcine.offline.messages import new_message

SRV = 'uavcine_interfaces/srv/DetectShots'


@pytest.fixture(scope='module')
def video():
    return make_shot_video(ShotVideoConfig(n_shots=3, shot_s=(1.0, 1.2), render_size=(192, 144), p_cut=0.5,
                                           p_dissolve=0.5, p_flash=0.0, p_exposure_jump=0.0, p_fast_pan=0.0, seed=5))


@pytest.fixture(scope='module')
def video_file(video, tmp_path_factory):
    path = tmp_path_factory.mktemp('media') / 'shots.avi'
    h, w = video.frames[0].shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), video.fps, (w, h))
    for f in video.frames:
        out.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    out.release()
    return path


@pytest.fixture(scope='module')
def bag(video, tmp_path_factory):
    host = OfflineHost()
    path = tmp_path_factory.mktemp('media') / 'cam'
    writer = BagWriter(path, host.typestore)
    writer.add_topic('/camera/image_raw', 'sensor_msgs/msg/Image')
    writer.add_topic('/other', 'std_msgs/msg/String')
    writer.add_topic('/target/track', 'uavcine_interfaces/msg/Track')
    writer.add_topic('/camera/broken', 'sensor_msgs/msg/Image')
    t0 = 1_704_067_200 * 10 ** 9
    for k, f in enumerate(video.frames):
        ns = t0 + int(k * 1e9 / video.fps)
        h, w = f.shape[:2]
        msg = new_message(host.typestore, 'sensor_msgs/msg/Image', dict(
            header=dict(stamp=msgs.stamp_fields(ns), frame_id='cam'), height=h, width=w, encoding='rgb8', step=w * 3,
            data=f.reshape(-1)))
        writer.write('/camera/image_raw', ns, host.typestore.serialize_cdr(msg, 'sensor_msgs/msg/Image'))
        if k < 3:  # images no one can decode: an encoding nobody knows
            bad = new_message(host.typestore, 'sensor_msgs/msg/Image', dict(
                header=dict(stamp=msgs.stamp_fields(ns)), height=h, width=w, encoding='weird16', step=w, data=f[..., 0].reshape(-1)))
            writer.write('/camera/broken', ns, host.typestore.serialize_cdr(bad, 'sensor_msgs/msg/Image'))
        # a target sweeping the frame from left to right (the tracker's box)
        cx = 10 + (w - 20) * k / float(len(video.frames))
        trk = new_message(host.typestore, 'uavcine_interfaces/msg/Track', dict(
            header=dict(stamp=msgs.stamp_fields(ns), frame_id='cam'), state=2,
            bbox=msgs.bbox_fields(cx - 6, h / 2 - 10, 12, 20)))
        writer.write('/target/track', ns, host.typestore.serialize_cdr(trk, 'uavcine_interfaces/msg/Track'))
    writer.close()
    return path, t0


def call(srv=SRV, service='/media/detect_shots', params=None, **fields):
    host = OfflineHost()
    host.add_node(MediaServerNode, params=params)
    progress = host.capture('/media/progress')
    req = host.new(srv + '_Request', fields)
    res = host.call_service(service, req)
    return res, progress


def thumbs(**kw):
    return call('uavcine_interfaces/srv/SelectThumbnails', '/media/select_thumbnails', **kw)


def summarize(**kw):
    return call('uavcine_interfaces/srv/Summarize', '/media/summarize', **kw)


def test_video_file(video, video_file, tmp_path):
    res, progress = call(video_path=str(video_file), request_id='r1', output_dir=str(tmp_path / 'kf'))
    assert res.success, res.message
    assert res.n_frames == len(video.frames)
    pred = list(zip(res.boundary_last.tolist(), res.boundary_first.tolist()))
    s = score(pred, [(t.last, t.first) for t in video.truth])
    assert s.fn == 0 and s.fp == 0, (pred, video.truth)
    assert res.keyframes[0] == 0 and len(res.keyframe_stamps) == len(res.keyframes)
    assert len(res.keyframe_files) == len(res.keyframes) and cv2.imread(res.keyframe_files[0]) is not None
    assert res.sampling_structure in ('progressive', 'unknown')  # rendered frames are progressive
    stages = [m.stage for _, m in progress]
    assert stages[-1] == 'done' and 'analysing' in stages and all(m.request_id == 'r1' for _, m in progress)


def test_bag_with_range(video, bag):
    path, t0 = bag
    res, _ = call(bag_path=str(path), image_topic='/camera/image_raw')
    assert res.success, res.message
    assert res.n_frames == len(video.frames)
    assert abs(res.fps - video.fps) < 0.1
    assert msgs.stamp_ns(res.keyframe_stamps[0]) == t0
    # a time range: only the frames inside it
    start = t0 + int(10 * 1e9 / video.fps)
    res2, _ = call(bag_path=str(path), image_topic='/camera/image_raw', start=msgs.stamp_fields(start),
                   stop=msgs.stamp_fields(start + int(19.5 * 1e9 / video.fps)))
    assert res2.success and res2.n_frames == 20


def test_bad_input_gets_a_reason(tmp_path, bag):
    path, t0 = bag
    empty = tmp_path / 'empty.mp4'
    empty.write_bytes(b'')
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(np.random.default_rng(0).integers(0, 255, 5000, dtype=np.uint8).tobytes())
    cases = [
        (dict(video_path=str(tmp_path / 'missing.mp4')), 'not found'),
        (dict(video_path=str(empty)), ''),
        (dict(video_path=str(junk)), ''),
        (dict(bag_path=str(path), image_topic='/nope'), 'has no topic /nope'),
        (dict(bag_path=str(path), image_topic='/other'), 'not a sensor_msgs/msg/Image'),
        (dict(bag_path=str(path), image_topic='/camera/broken'), 'none of the 3 images could be decoded'),
        (dict(bag_path=str(tmp_path / 'nobag'), image_topic='/camera/image_raw'), 'not found'),
        (dict(bag_path=str(path), image_topic='/camera/image_raw', start=msgs.stamp_fields(t0 + 10 ** 12)), 'past the end'),
        (dict(), 'no video'),
    ]
    for fields, reason in cases:
        res, progress = call(**fields)
        assert not res.success, fields
        assert res.message and reason in res.message, (fields, res.message)
        assert progress[-1][1].stage == 'failed'


def test_parameters_are_read_at_each_request(video_file):
    host = OfflineHost()
    node = host.add_node(MediaServerNode, params={'progress_every': 1000})
    progress = host.capture('/media/progress')
    req = host.new(SRV + '_Request', dict(video_path=str(video_file)))
    host.call_service('/media/detect_shots', req)
    n1 = len(progress)
    node.p.progress_every = 5  # what a parameter change at run time does to the node's params
    host.call_service('/media/detect_shots', req)
    assert len(progress) - n1 > n1


def test_thumbnails_written(video_file, tmp_path):
    res, _ = thumbs(video_path=str(video_file), method='greedy', count=3, output_dir=str(tmp_path / 'th'))
    assert res.success, res.message
    frames = res.frames.tolist()
    assert len(set(frames)) == 3 and frames == sorted(frames) and res.method == 'greedy'
    assert len(res.files) == 3 and all(cv2.imread(f) is not None for f in res.files)
    assert res.reward > 0 and len(res.aesthetics) == 3
    uni, _ = thumbs(video_path=str(video_file), method='uniform', count=3)
    assert uni.success and uni.files == []


def test_thumbnails_bad_requests(video_file, tmp_path):
    res, _ = thumbs(video_path=str(video_file), method='best')
    assert not res.success and 'method must be' in res.message
    res, _ = thumbs(video_path=str(video_file), method='rl', params={'thumbnail_policy': str(tmp_path / 'none.pt')})
    assert not res.success and 'no RL-DiVTS policy' in res.message
    res, _ = thumbs(video_path=str(video_file), track_topic='/target/track')
    assert not res.success and 'needs a bag' in res.message


def test_summary_and_its_vertical_version(bag, tmp_path, video):
    path, _ = bag
    res, progress = summarize(bag_path=str(path), image_topic='/camera/image_raw', track_topic='/target/track',
                              duration_s=1.2, aspect='9:16', output_dir=str(tmp_path / 'sum'))
    assert res.success, res.message
    n = sum(b - a + 1 for a, b in zip(res.fragment_first.tolist(), res.fragment_last.tolist()))
    assert n <= int(round(1.2 * video.fps)) and res.duration_s == pytest.approx(n / video.fps)
    cap = cv2.VideoCapture(res.summary_file)
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == n
    cap = cv2.VideoCapture(res.retargeted_file)
    h = video.frames[0].shape[0]
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == int(round(h * 9 / 16.0)) // 2 * 2
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == n
    assert res.target_inside >= 0.9
    assert progress[-1][1].stage == 'done'


def test_summary_bad_requests(video_file, tmp_path):
    res, _ = summarize(video_path=str(video_file))
    assert not res.success and 'output_dir' in res.message
    res, _ = summarize(video_path=str(video_file), output_dir=str(tmp_path), aspect='tall')
    assert not res.success and 'aspect' in res.message
    res, _ = summarize(video_path=str(video_file), output_dir=str(tmp_path), aspect='1:1')
    assert res.success and res.target_inside == -1.0  # no track: saliency steers the crop, nothing to score
