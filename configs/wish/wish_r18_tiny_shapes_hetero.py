# WISH on the synthetic shapes, small enough to train on a CPU: the tiny Mask2Former
# of configs/mask2former/mask2former_r18_tiny_shapes.py, trained from a mix of tag,
# point and box images and taught by a small SAM (its own classes never seen).
#   python tools/dataset_converters/make_shapes.py data/shapes
#   python tools/dataset_converters/coco_to_weak.py data/shapes/annotations/instances_train.json \
#       data/shapes/annotations/instances_train_hetero.json --counts tag=134,point=133,box=133
# Ablations, one switch each (--cfg-options): model.panoptic_head.loss_prompt=None (no
# prompt head), model.panoptic_head.fixed_candidate=2 (a fixed SAM candidate),
# model.self_enhancement=None, model.sam_decoder_inference=box (SAM-decoder inference).
_base_ = ['../mask2former/mask2former_r18_tiny_shapes.py']

classes = ('circle', 'square', 'triangle', 'star', 'hexagon', 'cross')
num_classes = len(classes)
# A small SAM: segment_anything's PromptEncoder and MaskDecoder on a small ViT encoder.
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
    # ResNet-18's stride-16 stage: 8x8 CAMs on 128 px images
    cam_neck=dict(type='CAMNeck', in_channels=256, num_classes=num_classes, level=2, stride=16,
                  peak=dict(threshold=0.5, window=3, max_per_class=4)),
    teacher=dict(type='SAMTeacher', checkpoint='checkpoints/sam_tiny_shapes.pth',
                 variant='custom', arch=sam_arch),
    sam_cache=None,
    loss_cam_weight=1.0,
    self_enhancement=dict(loss_weight=1.0, warmup_iters=500, score_thr=0.5),
    pseudo_point_warmup=300,
    sam_decoder_inference=None)

image_size = (128, 128)
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True),
    dict(type='LoadWeakAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.6, 1.6),
         resize_type='Resize', keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute',
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterWeakAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='ProjectWeakLabels'),
    dict(type='PackWeakDetInputs'),
]
train_dataloader = dict(
    dataset=dict(
        type='WeakCocoDataset',
        metainfo=dict(classes=classes),
        ann_file='annotations/instances_train_hetero.json',
        pipeline=train_pipeline))
