"""DETR configuration: one dataclass for the model and its loss, the official and the small layouts."""
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Sequence, Tuple

#: COCO 2017 category names indexed by category id (91 slots, 'N/A' for unused ids), as the official
#: DETR checkpoints number them (class_embed has 92 outputs: 91 ids + no-object).
COCO_CLASSES = [
    'N/A', 'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
    'traffic light', 'fire hydrant', 'N/A', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog',
    'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'N/A', 'backpack', 'umbrella', 'N/A',
    'N/A', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle', 'N/A',
    'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
    'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
    'N/A', 'dining table', 'N/A', 'N/A', 'toilet', 'N/A', 'tv', 'laptop', 'mouse', 'remote', 'keyboard',
    'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'N/A', 'book', 'clock', 'vase',
    'scissors', 'teddy bear', 'hair drier', 'toothbrush',
]

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


@dataclass
class DETRConfig:
    """Everything that defines a DETR model and its loss (defaults: the official DETR-R50)."""

    class_names: List[str] = field(default_factory=lambda: list(COCO_CLASSES))
    # backbone
    backbone: str = 'resnet50'  # 'resnet50' (FrozenBatchNorm, stride 32) | 'small' (BatchNorm, stride 16 or 8)
    small_channels: List[int] = field(default_factory=lambda: [32, 64, 128, 160])
    small_blocks: List[int] = field(default_factory=lambda: [1, 1, 2, 1])
    # output stride of the small backbone: 16 (stages of stride 2, 2, 2, 1) or 8 (2, 2, 1, 1: the last two stages
    # at 1/8, 4x the tokens; for targets a few pixels wide at the network input, issue #21)
    small_stride: int = 16
    # transformer
    hidden_dim: int = 256
    nheads: int = 8
    enc_layers: int = 6
    dec_layers: int = 6
    dim_feedforward: int = 2048
    dropout: float = 0.1
    pre_norm: bool = False
    encoder_attention: str = 'standard'  # 'standard' | 'whitened'
    whiten_graph_sigma: float = 1.5  # Gaussian kernel width of the grid graph G, in feature cells
    whiten_corr_length: float = 2.0  # correlation length of the stationary token covariance C, in cells
    # queries
    num_queries: int = 100
    anchor_queries: bool = False
    anchor_init_wh: float = 0.1
    two_stage: bool = False  # query selection from encoder proposals (implies anchor-relative boxes)
    proposal_wh: float = 0.05  # size of the per-token proposal anchor in two-stage mode
    # two-stage content queries: 'learned' (DINO: content query k goes with the k-th best proposal) or 'encoder'
    # (RT-DETR / Efficient DETR: the selected encoder features themselves, plus one learned vector per group).
    # 'encoder' makes the decoder permutation-equivariant in its queries, so the output set does not depend on
    # the order in which top-k returns near-tied proposals (torch vs onnxruntime vs TensorRT)
    query_content: str = 'learned'
    enc_one_to_many: int = 1  # H-DETR hybrid matching for the proposals: each target matched to k tokens
    num_groups: int = 1  # Group DETR: query groups at training time (1 = plain DETR)
    # input
    input_width: int = 800
    input_height: int = 608
    pixel_mean: List[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    pixel_std: List[float] = field(default_factory=lambda: list(IMAGENET_STD))
    # loss (names as the detr command-line arguments)
    aux_loss: bool = True
    set_cost_class: float = 1.0
    set_cost_bbox: float = 5.0
    set_cost_giou: float = 2.0
    bbox_loss_coef: float = 5.0
    giou_loss_coef: float = 2.0
    eos_coef: float = 0.1

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def stride(self) -> int:
        return 32 if self.backbone == 'resnet50' else self.small_stride

    @property
    def feature_size(self) -> Tuple[int, int]:
        """(h, w) of the backbone feature map at the configured input size."""
        return feature_size(self.input_height, self.input_width, self.backbone, self.small_blocks, self.small_stride)

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> 'DETRConfig':
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError('unknown DETR config fields: %s' % ', '.join(unknown))
        return cls(**d)


def detr_r50_config(**overrides: Any) -> DETRConfig:
    """The official facebookresearch/detr ``detr_resnet50`` layout (COCO, 91 category ids + no-object)."""
    return DETRConfig(**overrides)


def detr_small_config(class_names: Sequence[str], **overrides: Any) -> DETRConfig:
    """A small DETR for CPU and embedded use (Jetson): small CNN, d_model 128, 3+3 layers, 30 anchor queries."""
    kw = dict(class_names=list(class_names), backbone='small', hidden_dim=128, nheads=4, enc_layers=3,
              dec_layers=3, dim_feedforward=256, dropout=0.0, num_queries=30, two_stage=True,
              enc_one_to_many=6, num_groups=4, input_width=384, input_height=288, query_content='encoder')
    kw.update(overrides)
    return DETRConfig(**kw)


def _conv_out(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


def feature_size(h: int, w: int, backbone: str, small_blocks: Sequence[int] = (),
                 small_stride: int = 16) -> Tuple[int, int]:
    """Backbone output size for an input of h x w (exact conv arithmetic)."""
    if backbone == 'resnet50':
        h, w = _conv_out(h, 7, 2, 3), _conv_out(w, 7, 2, 3)
        h, w = _conv_out(h, 3, 2, 1), _conv_out(w, 3, 2, 1)
        for _ in range(3):
            h, w = _conv_out(h, 3, 2, 1), _conv_out(w, 3, 2, 1)
        return h, w
    h, w = _conv_out(h, 3, 2, 1), _conv_out(w, 3, 2, 1)
    for _ in range(small_stages_of_stride_2(small_stride)):
        h, w = _conv_out(h, 3, 2, 1), _conv_out(w, 3, 2, 1)
    return h, w


def small_stages_of_stride_2(small_stride: int) -> int:
    """How many of the small backbone's 4 stages halve the resolution (after the stride-2 stem)."""
    if small_stride not in (8, 16):
        raise ValueError('small_stride must be 8 or 16, not %r' % (small_stride,))
    return 3 if small_stride == 16 else 2
