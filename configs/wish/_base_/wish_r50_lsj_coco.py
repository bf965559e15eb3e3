# WISH on MMDetection's Mask2Former R50 LSJ recipe (1024 px, 8 GPUs x 2 images): the
# model, the weak-label pipeline and COCO paths. Concrete configs pick the train file.
# SAM: ViT-H by default; any SAM checkpoint works with its variant, e.g.
#   --cfg-options model.teacher.checkpoint=checkpoints/sam_vit_b_01ec64.pth \
#                 model.teacher.variant=vit_b
# (MobileSAM: checkpoints/mobile_sam.pt with model.teacher.variant=mobile_sam)
# Precomputing SAM's outputs (python tools/sam_cache.py CONFIG --out data/sam_cache) and
# setting model.sam_cache=data/sam_cache keeps the SAM encoder out of training.
_base_ = ['mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py']
custom_imports = dict(imports=['mmwish'], allow_failed_imports=False)

num_classes = 80
image_size = (1024, 1024)
model = dict(
    type='WISH',
    panoptic_head=dict(
        type='WISHHead',
        prompt_dim=256,
        loss_prompt=dict(type='PromptKLLoss', loss_weight=1.0),
        fixed_candidate=None,
        # the adaptive minimum over the candidates SAM scores within 0.1 of its best, the
        # measured default (docs/method.md); None is the paper's plain minimum
        candidate_iou_margin=0.1),
    # ResNet-50's C5 (stride 32): 32x32 CAMs at 1024 px
    cam_neck=dict(type='CAMNeck', in_channels=2048, num_classes=num_classes, level=3, stride=32,
                  peak=dict(threshold=0.5, window=3, max_per_class=5)),
    teacher=dict(type='SAMTeacher', checkpoint='checkpoints/sam_vit_h_4b8939.pth',
                 variant='vit_h', dtype='bfloat16'),
    sam_cache=None,
    loss_cam_weight=1.0,
    self_enhancement=dict(loss_weight=1.0, warmup_iters=20000, score_thr=0.5),
    pseudo_point_warmup=5000,
    # one object, one pseudo target: the measured default (docs/method.md); None keeps
    # every CAM peak's target, the paper's
    pseudo_nms_iou=0.5,
    sam_decoder_inference=None)

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', to_float32=True, backend_args=backend_args),
    dict(type='LoadWeakAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0), resize_type='Resize',
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=image_size, crop_type='absolute', recompute_bbox=True,
         allow_negative_crop=True),
    dict(type='FilterWeakAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='ProjectWeakLabels'),
    dict(type='PackWeakDetInputs'),
]
train_dataloader = dict(
    dataset=dict(
        type='WeakCocoDataset',
        ann_file='annotations/instances_train2017_hetero.json',
        pipeline=train_pipeline))
custom_hooks = [dict(type='RNGStateHook')]
