"""Success plots of the tracking evaluation (``eval/track_eval.py``): the real sequences' mean curve and the
simulator suite's two panels (all sequences, occlusion suite), as in docs/track_eval.md."""
from __future__ import annotations

from pathlib import Path

from . import metrics


def plot_real(summ: dict, path: Path) -> None:
    import matplotlib  # lazy: matplotlib: start-up time, only for the figures
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib: start-up time, only for the figures
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for k, v in sorted(summ.items(), key=lambda kv: -kv[1]['mean']['auc']):
        ax.plot(metrics.SUCCESS_THRESHOLDS, v['mean']['curve'], label='%s [%.3f]' % (k, v['mean']['auc']),
                lw=2 if k.startswith('SiamFC') else 1.2)
    ax.set_xlabel('overlap threshold (IoU)')
    ax.set_ylabel('success rate (mean over sequences)')
    ax.set_title('Success plot, real sequences (one-pass)')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc='lower left')
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot(rows, path: Path, det_name: str) -> None:
    import matplotlib  # lazy: matplotlib: start-up time, only for the figures
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # lazy: matplotlib: start-up time, only for the figures
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    th = metrics.SUCCESS_THRESHOLDS
    for ax, key, akey, title in ((axes[0], 'curve', 'auc', 'all sequences'),
                                 (axes[1], 'curve_occ', 'auc_occ', 'occlusion suite')):
        for r in sorted(rows, key=lambda r: -r[akey]):
            ax.plot(th, r[key], label='%s [%.3f]' % (r['tracker'], r[akey]), lw=2 if 'manager' in r['tracker'] else 1.2)
        ax.set_xlabel('overlap threshold (IoU)')
        ax.set_ylabel('success rate')
        ax.set_title('Success plot, %s' % title)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, loc='lower left')
    fig.suptitle('Simulator suite, one-pass evaluation; manager row uses the %s' % det_name, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
