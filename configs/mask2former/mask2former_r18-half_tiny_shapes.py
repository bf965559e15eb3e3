# The demo's Mask2Former: the tiny config with a ResNet-18 at half width (base width 32)
# pretrained on shape crops of 12 classes, shipped in checkpoints/ (5.4 MiB, fp16; its
# provenance and the command that made it: checkpoints/resnet18_half_shapes.json). As
# Mask2Former starts from ImageNet, the backbone then learns at 0.1x.
_base_ = ['./mask2former_r18_tiny_shapes.py']

backbone_checkpoint = 'checkpoints/resnet18_half_shapes.pth'
model = dict(
    backbone=dict(
        base_channels=32, stem_channels=32,
        init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=backbone_checkpoint)),
    panoptic_head=dict(in_channels=[32, 64, 128, 256]))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1, decay_mult=1.0)}))
