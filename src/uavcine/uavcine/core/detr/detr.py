"""The DETR model and its Hungarian loss (models/detr.py); pre- and post-processing: core/detr_io (numpy only)."""
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..box_ops import box_cxcywh_to_xyxy, generalized_box_iou
from .backbone import Backbone, Joiner
from .config import COCO_CLASSES, DETRConfig, detr_r50_config
from .matcher import HungarianMatcher
from .position_encoding import PositionEmbeddingSine, sine_embed_points
from .transformer import Transformer
from .whitened_attention import auxiliary_matrix


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


class MLP(nn.Module):
    """Very simple multi-layer perceptron (also called FFN)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int):
        super().__init__()
        self.num_layers = num_layers
        h = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < self.num_layers - 1 else layer(x)
        return x


class DETR(nn.Module):
    """The paper's DETR: image -> {'pred_logits': B x Q x (K+1), 'pred_boxes': B x Q x 4 (cx, cy, w, h in [0, 1])}.

    Object queries are learned embeddings (``query_embed``). The other query schemes are their own
    classes: ``AnchorDETR`` (learned anchor boxes) and ``TwoStageDETR`` (queries selected from the
    encoder's proposals). ``DETR(cfg)`` returns the one ``cfg`` asks for (``anchor_queries``,
    ``two_stage``); every class keeps the same parameter names, so checkpoints load either way.
    """

    def __new__(cls, cfg: Optional[DETRConfig] = None, *args: Any, **kwargs: Any):
        if cls is DETR and cfg is not None:
            cls = TwoStageDETR if cfg.two_stage else AnchorDETR if cfg.anchor_queries else DETR
        return super().__new__(cls)

    def __init__(self, cfg: DETRConfig):
        super().__init__()
        self.cfg = cfg
        self.num_queries = cfg.num_queries
        self.transformer = Transformer(cfg)
        d = cfg.hidden_dim
        self.class_embed = nn.Linear(d, cfg.num_classes + 1)
        self.bbox_embed = MLP(d, d, 4, 3)
        self.build_queries(cfg, cfg.num_queries * max(1, cfg.num_groups))
        backbone = Backbone(cfg)
        self.input_proj = nn.Conv2d(backbone.num_channels, d, kernel_size=1)
        self.backbone = Joiner(backbone, PositionEmbeddingSine(d // 2))
        self.aux_loss = cfg.aux_loss

    def build_queries(self, cfg: DETRConfig, nq_all: int) -> None:
        """The object queries' parameters (``nq_all``: queries of every Group DETR group)."""
        self.query_embed = nn.Embedding(nq_all, cfg.hidden_dim)

    def object_queries(self, memory: Tensor, src: Tensor, groups: int
                       ) -> Tuple[Tensor, Tensor, Optional[Tensor], Optional[Dict[str, Tensor]]]:
        """(decoder input tgt, query positions, reference boxes or None, encoder proposals or None);
        tgt and positions are GQ x B x E (sequence first)."""
        bs = src.shape[0]
        query_pos = self.query_embed.weight[:self.num_queries * groups].unsqueeze(1).expand(-1, bs, -1)
        return torch.zeros_like(query_pos), query_pos, None, None

    def forward(self, samples: Tensor, all_layers: Optional[bool] = None) -> Dict[str, Any]:
        """samples: B x 3 x H x W normalised images (fixed size). In training all query groups are used."""
        groups = max(1, self.cfg.num_groups) if self.training else 1
        if all_layers is None:
            all_layers = self.training and self.aux_loss
        src, pos = self.backbone(samples)
        src = self.input_proj(src)
        memory, pos_seq = self.transformer.encode(src, pos)
        tgt_mask = group_attention_mask(self.num_queries, groups, samples.device) if groups > 1 else None
        tgt, query_pos, ref, enc_out = self.object_queries(memory, src, groups)
        hs = self.transformer.decode(tgt, memory, pos_seq, query_pos, tgt_mask, all_layers)
        outputs_class = self.class_embed(hs)
        delta = self.bbox_embed(hs)
        outputs_coord = (delta + ref).sigmoid() if ref is not None else delta.sigmoid()
        out = {'pred_logits': outputs_class[-1], 'pred_boxes': outputs_coord[-1]}
        if all_layers and self.aux_loss:
            out['aux_outputs'] = [{'pred_logits': a, 'pred_boxes': b}
                                  for a, b in zip(outputs_class[:-1], outputs_coord[:-1])]
        if self.training and enc_out is not None:
            out['enc_outputs'] = enc_out
        return out

    @torch.no_grad()
    def calibrate_whitening(self, samples: Tensor) -> None:
        """Recompute the whitened attention matrix from the token covariance of ``input_proj`` features."""
        if self.cfg.encoder_attention != 'whitened':
            raise ValueError('calibrate_whitening needs encoder_attention = whitened')
        src, _ = self.backbone(samples)
        x = self.input_proj(src).flatten(2)  # B x E x N
        x = x - x.mean(dim=2, keepdim=True)
        x = x.reshape(-1, x.shape[-1]).double()
        cov = (x.T @ x / x.shape[0]).cpu().numpy()
        fh, fw = src.shape[-2:]
        a = auxiliary_matrix(int(fh), int(fw), self.cfg.whiten_graph_sigma, self.cfg.whiten_corr_length, cov)
        self.transformer.encoder.aux_matrix.copy_(torch.from_numpy(a))


class AnchorDETR(DETR):
    """Learned anchor boxes as queries (Anchor-DETR / DAB-DETR style): the query position is the sine
    embedding of a learned box, and the box head predicts an offset to it."""

    def build_queries(self, cfg: DETRConfig, nq_all: int) -> None:
        d = cfg.hidden_dim
        self.refpoint_embed = nn.Embedding(nq_all, 4)  # inverse-sigmoid anchor boxes (cx, cy, w, h)
        self.query_pos_head = MLP(d, d, d, 2)
        self.refpoint_embed.weight.data.copy_(_initial_anchors(cfg.num_queries, max(1, cfg.num_groups),
                                                               cfg.anchor_init_wh))
        nn.init.zeros_(self.bbox_embed.layers[-1].weight)
        nn.init.zeros_(self.bbox_embed.layers[-1].bias)

    def object_queries(self, memory, src, groups):
        bs = src.shape[0]
        ref = self.refpoint_embed.weight[:self.num_queries * groups]
        qp = self.query_pos_head(sine_embed_points(ref[:, :2].sigmoid(), self.cfg.hidden_dim // 2))
        query_pos = qp.unsqueeze(1).expand(-1, bs, -1)
        return torch.zeros_like(query_pos), query_pos, ref, None


class TwoStageDETR(DETR):
    """Queries selected from the encoder (Deformable-DETR two-stage / DINO mixed query selection / RT-DETR).

    Every encoder token proposes a box (relative to its grid cell) and a class; the ``num_queries``
    best proposals become the decoder's anchors. Content queries are learned (DINO: content query k
    goes with the k-th best proposal) or, with ``query_content='encoder'``, the selected tokens' own
    encoder features plus one learned vector per group (RT-DETR), which makes the output set
    independent of the order in which top-k returns near-tied proposals.
    """

    def build_queries(self, cfg: DETRConfig, nq_all: int) -> None:
        d = cfg.hidden_dim
        fh, fw = cfg.feature_size
        if cfg.num_queries > fh * fw:
            raise ValueError('two-stage DETR selects %d queries from %dx%d = %d encoder tokens: too few tokens '
                             'at input %dx%d' % (cfg.num_queries, fw, fh, fh * fw, cfg.input_width,
                                                 cfg.input_height))
        self.enc_class_embed = nn.Linear(d, cfg.num_classes + 1)
        self.enc_bbox_embed = MLP(d, d, 4, 3)
        nn.init.zeros_(self.enc_bbox_embed.layers[-1].weight)
        nn.init.zeros_(self.enc_bbox_embed.layers[-1].bias)
        if cfg.query_content == 'encoder':
            self.query_embed = nn.Embedding(max(1, cfg.num_groups), d)  # one offset per query group
            nn.init.zeros_(self.query_embed.weight)
        elif cfg.query_content == 'learned':
            self.query_embed = nn.Embedding(nq_all, d)  # content query k goes with the k-th best proposal
        else:
            raise ValueError("query_content must be 'learned' or 'encoder', not %r" % cfg.query_content)
        self.query_pos_head = MLP(d, d, d, 2)
        nn.init.zeros_(self.bbox_embed.layers[-1].weight)
        nn.init.zeros_(self.bbox_embed.layers[-1].bias)

    def object_queries(self, memory, src, groups):
        bs = src.shape[0]
        ref, content, enc_out = self.select_queries(memory, int(src.shape[-2]), int(src.shape[-1]))
        ref = ref.repeat(1, groups, 1)  # B x GQ x 4: every group starts from the same proposals
        query_pos = self.query_pos_head(sine_embed_points(ref[..., :2].sigmoid(), self.cfg.hidden_dim // 2))
        query_pos = query_pos.transpose(0, 1)
        if self.cfg.query_content == 'encoder':
            offset = self.query_embed.weight[:groups].repeat_interleave(self.num_queries, 0)  # GQ x E
            tgt = (content.repeat(1, groups, 1) + offset.unsqueeze(0)).transpose(0, 1)
        else:
            tgt = self.query_embed.weight[:self.num_queries * groups].unsqueeze(1).expand(-1, bs, -1)
        return tgt, query_pos, ref, enc_out

    def select_queries(self, memory: Tensor, h: int, w: int) -> Tuple[Tensor, Tensor, Dict[str, Tensor]]:
        """Every encoder token proposes a box (relative to its grid cell); the num_queries best (highest
        non-background probability) become the decoder's anchors (gradient stopped). Returns the anchors
        (B x Q x 4, inverse sigmoid), the selected tokens' encoder features (B x Q x E) and the proposals."""
        mem = memory.transpose(0, 1)  # B x HW x E
        enc_logits = self.enc_class_embed(mem)
        enc_unsig = self.enc_bbox_embed(mem) + grid_anchors(h, w, self.cfg.proposal_wh, mem.device)
        score = enc_logits.softmax(-1)[..., :-1].max(-1)[0]
        # NOTE: with query_content 'learned', content query k goes with the k-th best proposal, so two backends
        # whose scores differ by float rounding can pair near-tied proposals with different content queries;
        # with 'encoder' only the selected set matters (see the model card)
        idx = torch.topk(score, self.num_queries, dim=1)[1]
        ref = torch.gather(enc_unsig, 1, idx.unsqueeze(-1).expand(-1, -1, 4)).detach()
        content = torch.gather(mem, 1, idx.unsqueeze(-1).expand(-1, -1, mem.shape[-1]))
        return ref, content, {'pred_logits': enc_logits, 'pred_boxes': enc_unsig.sigmoid()}


def _initial_anchors(num_queries: int, groups: int, wh: float) -> Tensor:
    """Inverse-sigmoid anchors: each group's centres on a near-square grid over the image (same for each group)."""
    cols = int(math.ceil(math.sqrt(num_queries * 4.0 / 3.0)))
    rows = int(math.ceil(num_queries / float(cols)))
    ys, xs = np.meshgrid((np.arange(rows) + 0.5) / rows, (np.arange(cols) + 0.5) / cols, indexing='ij')
    c = np.stack([xs.ravel(), ys.ravel()], 1)[:num_queries]
    boxes = np.concatenate([c, np.full((num_queries, 2), wh)], 1)
    boxes = np.tile(boxes, (groups, 1))
    return inverse_sigmoid(torch.tensor(boxes, dtype=torch.float32))


def grid_anchors(h: int, w: int, wh: float, device=None) -> Tensor:
    """Inverse-sigmoid boxes (cx, cy, wh, wh) centred on each cell of an h x w grid, row-major (HW x 4)."""
    ys = (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h
    xs = (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w
    cy = ys[:, None].expand(h, w).reshape(-1)
    cx = xs[None, :].expand(h, w).reshape(-1)
    size = torch.full_like(cx, wh)
    return inverse_sigmoid(torch.stack([cx, cy, size, size], dim=-1))


def group_attention_mask(num_queries: int, groups: int, device=None) -> Tensor:
    """Group DETR: queries attend only within their group (True = masked)."""
    g = torch.arange(num_queries * groups, device=device) // num_queries
    return g[:, None] != g[None, :]


class DETRExport(nn.Module):
    """Inference graph for ONNX/TensorRT: images -> (pred_logits, pred_boxes), last decoder layer only."""

    def __init__(self, model: DETR):
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> Tuple[Tensor, Tensor]:
        out = self.model(images, all_layers=False)
        return out['pred_logits'], out['pred_boxes']


def build_detr(cfg: DETRConfig) -> DETR:
    return DETR(cfg)


# ----------------------------------------------------------------------------
# Official checkpoint
# ----------------------------------------------------------------------------


def load_official_checkpoint(path_or_checkpoint: Any, cfg: Optional[DETRConfig] = None) -> DETR:
    """A DETR-R50 from a facebookresearch/detr release (a path to the .pth, or its loaded dict {'model': sd}).

    Keys and shapes must match exactly (strict); raises ValueError with the differences otherwise.
    """
    ck = path_or_checkpoint
    if isinstance(ck, (str, bytes)) or hasattr(ck, '__fspath__'):
        ck = torch.load(ck, map_location='cpu', weights_only=True)
    sd = ck['model'] if isinstance(ck, dict) and 'model' in ck else ck
    if not isinstance(sd, dict):
        raise ValueError('not a DETR checkpoint: expected a state dict or {"model": state dict}')
    cfg = cfg or detr_r50_config()
    n_cls = sd.get('class_embed.weight', torch.empty(0, 0)).shape[0] - 1
    if n_cls > 0 and n_cls != cfg.num_classes:
        names = list(COCO_CLASSES) if n_cls == len(COCO_CLASSES) else ['class_%d' % i for i in range(n_cls)]
        cfg = DETRConfig(**dict(cfg.to_dict(), class_names=names))
    model = DETR(cfg)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise ValueError('checkpoint does not match the DETR-R50 layout: %s' % ' '.join(first[:4])) from e
    return model.eval()




class SetCriterion(nn.Module):
    """The Hungarian loss: match, then supervise classes (with no-object) and boxes of the matched pairs."""

    def __init__(self, num_classes: int, matcher: HungarianMatcher, weight_dict: Dict[str, float], eos_coef: float,
                 losses: Sequence[str] = ('labels', 'boxes', 'cardinality'), num_queries: int = 0,
                 enc_one_to_many: int = 1):
        super().__init__()
        self.num_classes = num_classes
        self.matcher = matcher
        self.weight_dict = weight_dict
        self.eos_coef = eos_coef
        self.losses = list(losses)
        self.num_queries = num_queries  # per group; 0 = no groups
        self.enc_one_to_many = max(1, enc_one_to_many)
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer('empty_weight', empty_weight)

    def loss_labels(self, outputs, targets, indices, num_boxes, log=True):
        src_logits = outputs['pred_logits']
        idx = self._get_src_permutation_idx(indices)
        target_classes_o = torch.cat([t['labels'][J] for t, (_, J) in zip(targets, indices)])
        target_classes = torch.full(src_logits.shape[:2], self.num_classes, dtype=torch.int64,
                                    device=src_logits.device)
        target_classes[idx] = target_classes_o
        losses = {'loss_ce': self.class_loss(src_logits, target_classes, outputs, targets, indices)}
        if log:
            if target_classes_o.numel():
                acc = (src_logits[idx].argmax(-1) == target_classes_o).float().mean() * 100
            else:
                acc = torch.tensor(100.0)
            losses['class_error'] = 100 - acc
        return losses

    def class_loss(self, src_logits, target_classes, outputs, targets, indices):
        """DETR's classification term: cross-entropy weighted by class (``eos_coef`` for no-object). A hook for
        criteria that weight queries differently (``train/det_real.PartialLabelCriterion``)."""
        return F.cross_entropy(src_logits.transpose(1, 2), target_classes, self.empty_weight)

    @torch.no_grad()
    def loss_cardinality(self, outputs, targets, indices, num_boxes):
        """Absolute error in the number of predicted non-empty boxes (logging only, no gradient)."""
        pred_logits = outputs['pred_logits']
        tgt_lengths = torch.as_tensor([len(v['labels']) for v in targets], dtype=torch.float32,
                                      device=pred_logits.device)  # on the GPU too
        card_pred = (pred_logits.argmax(-1) != pred_logits.shape[-1] - 1).sum(1).float()
        return {'cardinality_error': F.l1_loss(card_pred, tgt_lengths)}

    def loss_boxes(self, outputs, targets, indices, num_boxes):
        idx = self._get_src_permutation_idx(indices)
        src_boxes = outputs['pred_boxes'][idx]
        target_boxes = torch.cat([t['boxes'][i] for t, (_, i) in zip(targets, indices)], dim=0)
        loss_bbox = F.l1_loss(src_boxes, target_boxes, reduction='none')
        loss_giou = 1 - torch.diag(generalized_box_iou(box_cxcywh_to_xyxy(src_boxes),
                                                       box_cxcywh_to_xyxy(target_boxes)))
        return {'loss_bbox': loss_bbox.sum() / num_boxes, 'loss_giou': loss_giou.sum() / num_boxes}

    def _get_src_permutation_idx(self, indices):
        batch_idx = torch.cat([torch.full_like(src, i) for i, (src, _) in enumerate(indices)])
        src_idx = torch.cat([src for (src, _) in indices])
        return batch_idx, src_idx

    def get_loss(self, loss, outputs, targets, indices, num_boxes, **kwargs):
        loss_map = {'labels': self.loss_labels, 'cardinality': self.loss_cardinality, 'boxes': self.loss_boxes}
        if loss not in loss_map:
            raise ValueError('do you really want to compute %s loss?' % loss)
        return loss_map[loss](outputs, targets, indices, num_boxes, **kwargs)

    def _single(self, outputs, targets, num_boxes):
        outputs_without_aux = {k: v for k, v in outputs.items() if k != 'aux_outputs'}
        indices = self.matcher(outputs_without_aux, targets)
        losses = {}
        for loss in self.losses:
            losses.update(self.get_loss(loss, outputs, targets, indices, num_boxes))
        for i, aux_outputs in enumerate(outputs.get('aux_outputs', [])):
            indices = self.matcher(aux_outputs, targets)
            for loss in self.losses:
                kwargs = {'log': False} if loss == 'labels' else {}
                l_dict = self.get_loss(loss, aux_outputs, targets, indices, num_boxes, **kwargs)
                losses.update({k + '_%d' % i: v for k, v in l_dict.items()})
        return losses

    def forward(self, outputs: Dict[str, Any], targets: List[Dict[str, Tensor]]) -> Dict[str, Tensor]:
        """Loss dict. With Group DETR outputs (groups x num_queries predictions) each group is matched on its
        own and the losses are summed over groups; logged errors are averaged. Two-stage encoder proposals
        ('enc_outputs') are matched and supervised the same way (keys with suffix '_enc')."""
        num_boxes = max(float(sum(len(t['labels']) for t in targets)), 1.0)
        enc = outputs.get('enc_outputs')
        outputs = {k: v for k, v in outputs.items() if k != 'enc_outputs'}
        nq = outputs['pred_logits'].shape[1]
        groups = nq // self.num_queries if self.num_queries and nq % self.num_queries == 0 else 1
        if groups <= 1:
            total = self._single(outputs, targets, num_boxes)
        else:
            q = self.num_queries
            total = {}  # type: Dict[str, Tensor]
            for g in range(groups):
                sl = slice(g * q, (g + 1) * q)
                sub = {'pred_logits': outputs['pred_logits'][:, sl], 'pred_boxes': outputs['pred_boxes'][:, sl]}
                if 'aux_outputs' in outputs:
                    sub['aux_outputs'] = [{k: v[:, sl] for k, v in a.items()} for a in outputs['aux_outputs']]
                for k, v in self._single(sub, targets, num_boxes).items():
                    v = v if k.startswith('loss') else v / groups
                    total[k] = total[k] + v if k in total else v
        if enc is not None:
            # one-to-many for the encoder proposals (H-DETR): every target repeated k times, so k tokens
            # per object learn to propose it (denser signal for the backbone; the decoder stays one-to-one)
            k = self.enc_one_to_many
            rep_targets = [{'labels': t['labels'].repeat(k), 'boxes': t['boxes'].repeat(k, 1)} for t in targets]
            for key, v in self._single(enc, rep_targets, num_boxes * k).items():
                total[key + '_enc'] = v
        return total


def build_criterion(cfg: DETRConfig) -> SetCriterion:
    matcher = HungarianMatcher(cfg.set_cost_class, cfg.set_cost_bbox, cfg.set_cost_giou)
    weight_dict = {'loss_ce': 1.0, 'loss_bbox': cfg.bbox_loss_coef, 'loss_giou': cfg.giou_loss_coef}
    if cfg.aux_loss:
        aux = {}
        for i in range(cfg.dec_layers - 1):
            aux.update({k + '_%d' % i: v for k, v in weight_dict.items()})
        weight_dict.update(aux)
    if cfg.two_stage:
        weight_dict.update({'loss_ce_enc': 1.0, 'loss_bbox_enc': cfg.bbox_loss_coef, 'loss_giou_enc': cfg.giou_loss_coef})
    return SetCriterion(cfg.num_classes, matcher, weight_dict, cfg.eos_coef, num_queries=cfg.num_queries,
                        enc_one_to_many=cfg.enc_one_to_many)
