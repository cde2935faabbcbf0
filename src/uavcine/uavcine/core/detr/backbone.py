"""The CNN backbone (models/backbone.py); layer names as torchvision's resnet50 so checkpoints load.

``Backbone`` is ``backbone.0`` in the checkpoint (the CNN as ``body``); ``Joiner`` pairs it with the
positional encoding as ``backbone.1``. ResNet-50 with ``FrozenBatchNorm2d`` for the official layout
(stride 32), or a small ResNet-like CNN for CPU/embedded use (stride 16).
"""
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from .config import DETRConfig, small_stages_of_stride_2


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine parameters (all buffers), as in DETR."""

    def __init__(self, n: int):
        super().__init__()
        self.register_buffer('weight', torch.ones(n))
        self.register_buffer('bias', torch.zeros(n))
        self.register_buffer('running_mean', torch.zeros(n))
        self.register_buffer('running_var', torch.ones(n))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        state_dict.pop(prefix + 'num_batches_tracked', None)  # torchvision BatchNorm2d checkpoints have it
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * (self.running_var + 1e-5).rsqrt()
        bias = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + bias.reshape(1, -1, 1, 1)


class Bottleneck(nn.Module):
    """torchvision ResNet v1.5 bottleneck (stride on the 3x3 convolution)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None,
                 norm_layer=FrozenBatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = norm_layer(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = norm_layer(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = norm_layer(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class BasicBlock(nn.Module):
    """torchvision ResNet-18 style basic block, used by the small backbone."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, norm_layer=nn.BatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_layer(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = norm_layer(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                            norm_layer(planes))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet50Body(nn.Module):
    """torchvision resnet50 up to layer4 (DETR's IntermediateLayerGetter drops avgpool and fc)."""

    def __init__(self):
        super().__init__()
        norm = FrozenBatchNorm2d
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = norm(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.inplanes = 64
        self.layer1 = self._make_layer(64, 3, 1)
        self.layer2 = self._make_layer(128, 4, 2)
        self.layer3 = self._make_layer(256, 6, 2)
        self.layer4 = self._make_layer(512, 3, 2)
        self.num_channels = 2048

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride=stride, bias=False),
                                   FrozenBatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class SmallBody(nn.Module):
    """A small ResNet-like CNN trained from scratch (BatchNorm): a stride-2 stem and stages of stride 2, 2, 2, 1
    (stride 16 overall; the last stage widens the features at 1/16 resolution), or 2, 2, 1, 1 with
    ``stride=8`` (the same weights' shapes; the last two stages run at 1/8, for targets a few pixels wide)."""

    def __init__(self, channels: Sequence[int], blocks: Sequence[int], stride: int = 16):
        super().__init__()
        if len(channels) != 4 or len(blocks) != 4:
            raise ValueError('small backbone needs 4 channel counts and 4 block counts')
        self.conv1 = nn.Conv2d(3, channels[0], 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels[0])
        self.relu = nn.ReLU(inplace=True)
        inplanes = channels[0]
        halving = small_stages_of_stride_2(stride)
        for i, (planes, n) in enumerate(zip(channels, blocks)):
            layers = [BasicBlock(inplanes, planes, 2 if i < halving else 1)] + [BasicBlock(planes, planes) for _ in range(1, n)]
            setattr(self, 'layer%d' % (i + 1), nn.Sequential(*layers))
            inplanes = planes
        self.num_channels = channels[-1]

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class Backbone(nn.Module):
    """``backbone.0``: holds the CNN as ``body`` (checkpoint keys ``backbone.0.body.*``)."""

    def __init__(self, cfg: DETRConfig):
        super().__init__()
        if cfg.backbone == 'resnet50':
            self.body = ResNet50Body()
        elif cfg.backbone == 'small':
            self.body = SmallBody(cfg.small_channels, cfg.small_blocks, cfg.small_stride)
        else:
            raise ValueError("backbone must be 'resnet50' or 'small', not %r" % cfg.backbone)
        self.num_channels = self.body.num_channels

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class Joiner(nn.Sequential):
    """``backbone``: [0] the CNN, [1] the positional encoding (no parameters)."""

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        feat = self[0](x)
        return feat, self[1](feat).to(feat.dtype)
