# ruff: noqa: E501  (the data commands below are copied whole)
# WISH on the real-photo benchmark, taught by the oracle teacher (the true masks of the
# training file answer every prompt: the object, a part and a superset at a random index;
# the small SAM's prompt encoder gives the latents), from a third each of tags, points and
# boxes; the network is configs/mask2former/mask2former_effnet-lite0_tiny_coco128.py's.
# Data (docs/benchmarks.md "Real photos"), whose tool writes the weak files too (hetero:
# 32 tag, 31 point, 31 box; C126 the 126 photos of coco128-seg that have labels):
#   python tools/dataset_converters/photo_benchmark.py C126 data/coco128_seg --supercategories
#   python tools/dataset_converters/coco_to_weak.py data/coco128_seg/annotations/instances_train.json \
#       data/coco128_seg/annotations/instances_train_hetero.json --counts tag=32,point=31,box=31
# Other labels: --cfg-options train_dataloader.dataset.ann_file=annotations/instances_train_box.json
# (or _point, _tag).
_base_ = ['../mask2former/mask2former_effnet-lite0_tiny_coco128.py']

# the small SAM of the shapes: only its prompt encoder serves the oracle
sam_arch = dict(image_size=128, patch_size=8, embed_dim=96, depth=4, num_heads=4,
                global_attn_indexes=(1, 3), window_size=8, prompt_embed_dim=64,
                decoder_mlp_dim=256)
model = dict(
    type='WISH',
    panoptic_head=dict(
        type='WISHHead',
        prompt_dim=sam_arch['prompt_embed_dim'],
        loss_prompt=dict(type='PromptKLLoss', loss_weight=1.0),
        fixed_candidate=None),
    # EfficientNet-Lite0's stride-16 stage: 20x20 CAMs on 320 px photos
    cam_neck=dict(type='CAMNeck', in_channels=112, num_classes={{_base_.num_classes}},
                  level=2, stride=16, peak=dict(threshold=0.5, window=3, max_per_class=4)),
    teacher=dict(type='OracleTeacher',
                 source_ann_file='data/coco128_seg/annotations/instances_train.json',
                 ambiguity=True, checkpoint='checkpoints/sam_tiny_shapes.pth',
                 variant='custom', arch=sam_arch),
    sam_cache=None,
    loss_cam_weight=1.0,
    # the warm-ups keep their share of the shapes' schedule in the photo schedule of 500
    # iterations: pseudo points after 1/5, self-enhancement after 1/3
    self_enhancement=dict(loss_weight=1.0, warmup_iters=166, score_thr=0.5),
    pseudo_point_warmup=100,
    sam_decoder_inference=None)

train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadWeakAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale={{_base_.image_size}}, ratio_range=(0.6, 1.6),
         resize_type='Resize', keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.image_size}}, crop_type='absolute',
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterWeakAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='ProjectWeakLabels'),
    dict(type='PackWeakDetInputs'),
]
train_dataloader = dict(
    dataset=dict(type='WeakCocoDataset', ann_file='annotations/instances_train_hetero.json',
                 pipeline=train_pipeline))
