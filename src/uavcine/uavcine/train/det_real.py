"""Masked real supervision for the detector (issue #21): the development sequences' annotated targets as
positives, the unannotated rest of each frame kept out of the loss.

The real sequences (``shared/data/aerial_tracking``, OTB layout) box ONE target per frame: the surfer among
~40 surfers, the truck among the traffic. Their frames are honest supervision for that target, and for nothing
else: another person or car in the same frame carries no box, so a prediction on it is not known to be wrong.

**The loss on a real frame** (``PartialLabelCriterion``; DETR's Hungarian loss otherwise unchanged):

- the annotated target is matched as usual (Hungarian, per query group, per decoder layer, and one-to-many for
  the encoder's proposals) and its query gets the full loss: class cross-entropy towards its class, L1 and GIoU;
- an unmatched query (or encoder proposal) gets **no class loss**, i.e. the no-object term DETR would give it is
  dropped, *unless its box overlaps the annotated target with IoU >= ``dup_iou``* (0.5): such a box is a second
  prediction of the one object that is labelled, a duplicate, and pushing it to no-object is what one-to-one
  matching needs (otherwise the model learns to fire several boxes on a target). A box below that overlap may
  be on an unlabelled neighbour (two walkers side by side, the next car in a queue) and is left alone.

``bg_weight`` (default 0, the mask above) is the variant for when that costs too much precision: the other
unmatched queries of a real frame get the no-object term at ``bg_weight`` times its usual weight ("unlabelled
is probably background", down-weighted; 1 = treat the real frame as fully labelled, DETR's loss as it is). It
pushes the few unlabelled persons/cars of a frame towards no-object too, weakly; the folds measure which wins.

Why this form and not the other one the issue allows (the no-object term also where a query's box is far from
the target, on the 11 exhaustively labelled frames): those 11 frames are the only place precision can be
measured; training on their negatives would have to take them out of the precision score, leaving almost
nothing to judge precision by. So real frames teach *what a person / car looks like* and the simulator's frames
(mixed into every batch, ``real_fraction`` of it real) keep teaching the background: every unmatched query of
a simulator frame still gets the no-object term. The risk this leaves, measured rather than assumed: more false
positives on real footage (precision on the labelled frames of held-out sequences).

**Folds by sequence** (``uavcine.eval.det_eval.FOLDS``): a model trained with ``holdout='A'`` never sees a frame
of fold A's sequences, and is judged only on them; ``holdout='none'`` trains on every development sequence (the
shipping recipe, judged on unseen sequences). Frames taken: every ``every``-th frame with a finite annotation of
each scored sequence (DTB70 Gull1, a bird, is not a detector class and is not used).

Offline tool (Python 3.10+).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm import tqdm

from uavcine.core.box_ops import box_cxcywh_to_xyxy, box_iou
from uavcine.core.detr import SetCriterion
from uavcine.eval.det_eval import FOLDS, target_class
from uavcine.eval.sequences import OTBError, otb_folders, read_otb

@dataclass
class RealConfig:
    otb: str                     # the development set (a folder of OTB sequence folders)
    holdout: str = 'none'        # a key of FOLDS (its sequences are left out) or 'none' (use all)
    every: int = 2               # every K-th frame with a finite annotation
    real_fraction: float = 0.5   # of each training batch
    dup_iou: float = 0.5         # an unmatched box overlapping the annotated target this much is a duplicate
    bg_weight: float = 0.0       # the no-object weight of the other unmatched boxes (0: masked; 1: DETR's loss)


# ----------------------------------------------------------------------------
# The loss mask
# ----------------------------------------------------------------------------


def ignored_queries(pred_boxes: Tensor, targets: list, indices: list, dup_iou: float) -> Tensor:
    """B x Q bool, True where a query gets no class loss: on a partially labelled image (``target['partial']``),
    every query that is neither matched (``indices``: the matcher's (query, target) pairs) nor a duplicate of a
    labelled box (IoU >= ``dup_iou`` with one). Fully labelled images: all False (DETR's loss as it is)."""
    B, Q = pred_boxes.shape[:2]
    ignore = torch.zeros(B, Q, dtype=torch.bool, device=pred_boxes.device)
    for b, (t, (src, _)) in enumerate(zip(targets, indices)):
        if not t.get('partial', False):
            continue
        ignore[b] = True
        ignore[b, src] = False
        if len(t['boxes']):
            with torch.no_grad():
                ov = box_iou(box_cxcywh_to_xyxy(pred_boxes[b].detach().float()), box_cxcywh_to_xyxy(t['boxes']))[0]
            ignore[b] &= ov.max(1)[0] < dup_iou
    return ignore


class PartialLabelCriterion(SetCriterion):
    """DETR's Hungarian loss where images marked ``partial`` (one box per frame, others unlabelled) give no
    no-object term to queries outside the mask of ``ignored_queries``; everything else is ``SetCriterion``."""

    def __init__(self, *args, dup_iou: float = 0.5, bg_weight: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.dup_iou = dup_iou
        self.bg_weight = bg_weight

    @classmethod
    def like(cls, base: SetCriterion, dup_iou: float = 0.5, bg_weight: float = 0.0) -> 'PartialLabelCriterion':
        return cls(base.num_classes, base.matcher, base.weight_dict, base.eos_coef, base.losses,
                   num_queries=base.num_queries, enc_one_to_many=base.enc_one_to_many, dup_iou=dup_iou,
                   bg_weight=bg_weight)

    def forward(self, outputs, targets):
        # SetCriterion rebuilds the target dicts for the encoder's one-to-many matching (labels and boxes only),
        # so the per-image flag is kept here, by batch index, for class_loss
        self._partial = [bool(t.get('partial', False)) for t in targets]
        return super().forward(outputs, targets)

    def class_loss(self, src_logits, target_classes, outputs, targets, indices):
        flagged = [dict(t, partial=p) for t, p in zip(targets, getattr(self, '_partial', [False] * len(targets)))]
        masked = ignored_queries(outputs['pred_boxes'], flagged, indices, self.dup_iou)
        # DETR's class loss is cross-entropy weighted by class (eos_coef for no-object), normalised by the summed
        # weights; the masked queries' weights are scaled by bg_weight (0: left out of the loss)
        w = self.empty_weight[target_classes] * torch.where(masked, self.bg_weight, 1.0)
        if float(w.sum()) > 0:
            ce = F.cross_entropy(src_logits.transpose(1, 2), target_classes, reduction='none')
            return (ce * w).sum() / w.sum()
        # every query of the batch ignored (real frames whose target the augmentation cropped away)
        return src_logits.sum() * 0.0


# ----------------------------------------------------------------------------
# The real frames
# ----------------------------------------------------------------------------


def training_sequences(otb: str, holdout: str) -> list:
    """The development sequences a model of fold ``holdout`` may train on: scored classes, not held out."""
    if holdout != 'none' and holdout not in FOLDS:
        raise ValueError('--real-holdout must be one of %s or none, not %r' % (', '.join(FOLDS), holdout))
    held = set(FOLDS.get(holdout, ()))
    try:
        folders = otb_folders([otb])
    except OTBError as e:
        raise ValueError(str(e)) from None
    return [f for f in folders if target_class(f.name) is not None and f.name not in held]


class RealFrames:
    """Real frames letterboxed to the network input with their one annotated box (same fields as
    ``detr_train.CocoDetection``: images, boxes in network pixels x0 y0 x1 y1, labels; plus ``sequence``)."""

    def __init__(self, rcfg: RealConfig, cfg, progress: bool = True):
        from uavcine.core.letterbox import Letterbox  # lazy: start-up time: importing it loads cv2
        names = list(cfg.class_names)
        W, H = cfg.input_width, cfg.input_height
        pad = np.round(np.asarray(cfg.pixel_mean) * 255).astype(np.uint8)
        self.W, self.H = W, H
        imgs, self.boxes, self.labels, self.sequence = [], [], [], []
        self.folders = training_sequences(rcfg.otb, rcfg.holdout)
        if not self.folders:
            raise ValueError('no real training sequence left under %s with holdout %s' % (rcfg.otb, rcfg.holdout))
        for folder in self.folders:
            cls = target_class(folder.name)
            if cls not in names:
                raise ValueError('the model has no class %r for %s (classes: %s)' % (cls, folder.name, names))
            seq = read_otb(folder)
            frames = [i for i in range(0, len(seq.boxes), rcfg.every) if np.isfinite(seq.boxes[i]).all()]
            for i in tqdm(frames, desc='real %s' % folder.name, leave=False, disable=not progress):
                rgb = seq.frame(i)
                lb = Letterbox.fit(rgb.shape[1], rgb.shape[0], W, H)
                imgs.append(lb.apply(rgb, pad))
                x, y, w, h = seq.boxes[i]
                self.boxes.append(lb.boxes_to_network(np.array([[x, y, x + w, y + h]])).astype(np.float32))
                self.labels.append(np.array([names.index(cls)], np.int64))
                self.sequence.append(folder.name)
        self.images = np.stack(imgs)

    def __len__(self) -> int:
        return len(self.images)


def join_batches(sim_batch: tuple, real_batch: tuple) -> tuple:
    """One training batch from ``detr_train.make_batch``'s (images, targets) of simulator frames (fully labelled)
    and of real frames, whose targets are marked ``partial`` (one annotated object, the rest unlabelled)."""
    (x_s, t_s), (x_r, t_r) = sim_batch, real_batch
    return torch.cat([x_s, x_r]), t_s + [dict(t, partial=True) for t in t_r]


def real_indices(n: int, rng: np.random.Generator):
    """An endless stream of indices into ``n`` real frames, a new permutation each pass."""
    while True:
        yield from rng.permutation(n)


def summary(real: RealFrames) -> str:
    counts = {}
    for s in real.sequence:
        counts[s] = counts.get(s, 0) + 1
    return ', '.join('%s %d' % kv for kv in counts.items())

