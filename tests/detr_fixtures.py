"""Shared helpers of the DETR tests: a tiny DETR configuration (fast on CPU) and its files."""
from uavcine.core.detr import detr_small_config

CLASSES = ['person', 'car', 'tower']


def tiny_config(**kw):
    """A DETR small enough for unit tests (milliseconds per image), same code paths as the shipped one."""
    base = dict(small_channels=[8, 16, 16, 24], small_blocks=[1, 1, 1, 1], hidden_dim=32, nheads=2, enc_layers=1,
                dec_layers=2, dim_feedforward=64, num_queries=6, num_groups=2, enc_one_to_many=3, input_width=96,
                input_height=64)
    base.update(kw)
    return detr_small_config(CLASSES, **base)
