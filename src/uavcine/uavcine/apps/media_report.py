"""After each shot of the demo: the media services on its bag, and their results as a report.html section.

A client of ``media_server`` like any other (here through the offline host's service calls): shot boundaries and
keyframes (§3.5), thumbnails (§3.2, RL-DiVTS when its policy is present, else greedy on the same reward), and a
summary clip with its 9:16 version (§3.3), all written under ``<run>/media/<shot>/``.
"""
from __future__ import annotations

import html
import os
from pathlib import Path

from ..nodes import paths
from ..nodes.media_server import MediaServerNode
from ..offline.host import OfflineHost

IMAGE_TOPIC = '/camera/image_raw'
TRACK_TOPIC = '/target/track'


def analyse_shot(bag: Path, out_dir: Path, summary_s: float = 4.0) -> dict:
    """Call the three services on one shot's bag; returns their responses (as dicts) and the failures."""
    host = OfflineHost()
    node = host.add_node(MediaServerNode)
    out_dir.mkdir(parents=True, exist_ok=True)
    src = dict(bag_path=str(bag), image_topic=IMAGE_TOPIC)
    result = {}
    shots = host.call_service('/media/detect_shots', host.new(
        'uavcine_interfaces/srv/DetectShots_Request', dict(src, output_dir=str(out_dir / 'keyframes'), request_id='demo')))
    result['shots'] = shots
    method = 'rl' if os.path.isfile(paths.resolve(node.p.thumbnail_policy)) else 'greedy'
    result['thumbs'] = host.call_service('/media/select_thumbnails', host.new(
        'uavcine_interfaces/srv/SelectThumbnails_Request', dict(src, track_topic=TRACK_TOPIC, count=3, method=method,
                                                               output_dir=str(out_dir / 'thumbnails'), request_id='demo')))
    result['summary'] = host.call_service('/media/summarize', host.new(
        'uavcine_interfaces/srv/Summarize_Request', dict(src, track_topic=TRACK_TOPIC, duration_s=float(summary_s),
                                                        aspect='9:16', output_dir=str(out_dir), request_id='demo')))
    return result


def section_html(results: dict, run_dir: Path) -> str:
    """The report's media section: per shot, keyframes, thumbnails, the summary clip and its 9:16 version."""
    esc = html.escape
    rel = lambda p: esc(os.path.relpath(p, run_dir))  # noqa: E731
    parts = ['<h2>Media services (shots, keyframes, thumbnails, summary)</h2>',
             '<p>From <code>media_server</code> (<code>media/detect_shots</code>, <code>media/select_thumbnails</code>, '
             '<code>media/summarize</code>) called on each shot\'s bag after it was flown.</p>']
    for name, r in results.items():
        parts.append('<h3>%s</h3>' % esc(name))
        s = r['shots']
        if s.success:
            kinds = ', '.join('%s at %d-%d' % (k, a, b) for k, a, b in zip(s.boundary_kind, s.boundary_last.tolist(),
                                                                            s.boundary_first.tolist())) or 'none'
            parts.append('<p>%d frames at %.1f fps; transitions: %s; %d keyframes (%.1f ms/frame).</p>'
                         % (s.n_frames, s.fps, esc(kinds), len(s.keyframes), s.ms_per_frame))
            parts.append('<div>%s</div>' % ''.join(
                '<img style="height:90px;margin:2px" title="keyframe %d" src="%s">' % (k, rel(f))
                for k, f in zip(s.keyframes.tolist(), s.keyframe_files)))
        else:
            parts.append('<p class="note">shots: %s</p>' % esc(s.message))
        t = r['thumbs']
        if t.success:
            parts.append('<p>Thumbnails (%s; reward %.3f):</p><div>%s</div>' % (esc(t.method), t.reward, ''.join(
                '<img style="height:150px;margin:2px" title="frame %d, aesthetics %.2f" src="%s">' % (k, a, rel(f))
                for k, a, f in zip(t.frames.tolist(), t.aesthetics.tolist(), t.files))))
        else:
            parts.append('<p class="note">thumbnails: %s</p>' % esc(t.message))
        m = r['summary']
        if m.success:
            frags = ', '.join('%d-%d' % ab for ab in zip(m.fragment_first.tolist(), m.fragment_last.tolist()))
            inside = '' if m.target_inside < 0 else '; the 9:16 crop holds the tracked box in %.0f%% of its frames' % (
                100 * m.target_inside)
            parts.append('<p>Summary: %.1f s from key fragments %s%s.</p>' % (m.duration_s, esc(frags), inside))
            parts.append('<video controls muted loop style="height:240px" src="%s"></video> '
                         '<video controls muted loop style="height:240px" src="%s"></video>'
                         % (rel(m.summary_file), rel(m.retargeted_file)))
        else:
            parts.append('<p class="note">summary: %s</p>' % esc(m.message))
    return '\n'.join(parts)
