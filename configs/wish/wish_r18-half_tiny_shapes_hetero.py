# The demo (tools/run_demo.sh): WISH from a third each of tags, points and boxes on the
# synthetic shapes, from the ResNet-18 at half width pretrained on shape crops that ships
# in checkpoints/ (configs/mask2former/mask2former_r18-half_tiny_shapes.py is its fully
# supervised reference).
#   python tools/dataset_converters/make_shapes.py data/shapes
#   python tools/dataset_converters/coco_to_weak.py data/shapes/annotations/instances_train.json \
#       data/shapes/annotations/instances_train_hetero.json --counts tag=134,point=133,box=133
_base_ = ['./wish_r18_tiny_shapes_hetero.py']

backbone_checkpoint = 'checkpoints/resnet18_half_shapes.pth'
model = dict(
    backbone=dict(
        base_channels=32, stem_channels=32,
        init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=backbone_checkpoint)),
    panoptic_head=dict(in_channels=[32, 64, 128, 256]),
    # ResNet-18's stride-16 stage, 128 channels at half width
    cam_neck=dict(in_channels=128))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1, decay_mult=1.0)}))
