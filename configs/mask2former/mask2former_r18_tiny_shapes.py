# A tiny Mask2Former on the synthetic shapes that trains and evaluates on a CPU:
# MMDetection's Mask2Former R50 LSJ recipe with a ResNet-18 trained from scratch
# (no download), 64-channel pixel and transformer decoders, 20 queries and
# 128 px images. Data: python tools/dataset_converters/make_shapes.py data/shapes
_base_ = ['mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py']
custom_imports = dict(imports=['mmwish'], allow_failed_imports=False)

num_things_classes = 6
num_stuff_classes = 0
num_classes = num_things_classes + num_stuff_classes
image_size = (128, 128)
channels = 64
heads = 4

model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='BatchFixedSizePad', size=image_size, img_pad_value=0,
             pad_mask=True, mask_pad_value=0, pad_seg=False)
    ]),
    backbone=dict(
        depth=18,
        # From scratch: BN must learn, and nothing is downloaded.
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    panoptic_head=dict(
        in_channels=[64, 128, 256, 512],
        feat_channels=channels,
        out_channels=channels,
        num_things_classes=num_things_classes,
        num_stuff_classes=num_stuff_classes,
        num_queries=20,
        pixel_decoder=dict(
            encoder=dict(
                num_layers=2,
                layer_cfg=dict(
                    self_attn_cfg=dict(embed_dims=channels, num_heads=heads),
                    ffn_cfg=dict(embed_dims=channels, feedforward_channels=4 * channels))),
            positional_encoding=dict(num_feats=channels // 2)),
        positional_encoding=dict(num_feats=channels // 2),
        transformer_decoder=dict(
            num_layers=3,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=channels, num_heads=heads),
                cross_attn_cfg=dict(embed_dims=channels, num_heads=heads),
                ffn_cfg=dict(embed_dims=channels, feedforward_channels=4 * channels))),
        loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(
        num_things_classes=num_things_classes, num_stuff_classes=num_stuff_classes),
    train_cfg=dict(num_points=2048),
    test_cfg=dict(panoptic_on=False, max_per_image=20))

# dataset: the synthetic shapes
dataset_type = 'ShapesDataset'
data_root = 'data/shapes/'
backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    # large scale jittering, narrowed for small images
    dict(type='RandomResize', scale=image_size, ratio_range=(0.6, 1.6),
         resize_type='Resize', keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute',
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=8),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
test_dataloader = val_dataloader
val_evaluator = dict(
    _delete_=True,
    type='CocoMetric',
    ann_file=data_root + 'annotations/instances_val.json',
    metric=['bbox', 'segm'],
    format_only=False,
    backend_args=backend_args)
test_evaluator = val_evaluator

# schedule: short, on one CPU process; the backbone learns at full rate (no pretraining)
max_iters = 1500
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=1.0, decay_mult=1.0)}))
param_scheduler = dict(end=max_iters, milestones=[int(max_iters * 0.8)])
interval = 500
train_cfg = dict(max_iters=max_iters, val_interval=max_iters, dynamic_intervals=None)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=interval, max_keep_ckpts=2))
log_processor = dict(window_size=20)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
# device_ids=None lets DDP wrap CPU processes too (mmengine passes [LOCAL_RANK]);
# on GPUs it uses the module's own device.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
    find_unused_parameters=False)
auto_scale_lr = dict(base_batch_size=4)
# torch's RNG states go into checkpoints, so --resume continues bit for bit (CPU)
custom_hooks = [dict(type='RNGStateHook')]
