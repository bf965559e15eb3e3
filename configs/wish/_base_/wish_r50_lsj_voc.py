# WISH R50 on PASCAL VOC 2012 with SBD (10,582 train_aug images, 20 classes), evaluated
# on VOC val (1,449). Layout (tools/dataset_converters/voc_sbd_to_coco.py writes the JSON):
#   data/VOCdevkit/VOC2012/JPEGImages/
#   data/voc/annotations/voc_2012_train_aug.json, voc_2012_val.json and the weak files
_base_ = ['./wish_r50_lsj_coco.py']

num_classes = 20
data_root = 'data/'
model = dict(
    panoptic_head=dict(num_things_classes=num_classes,
                       loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=num_classes),
    cam_neck=dict(num_classes=num_classes),
    self_enhancement=dict(warmup_iters=5000),
    pseudo_point_warmup=2000)

train_dataloader = dict(
    dataset=dict(
        type='WeakVOCDataset',
        data_root=data_root,
        ann_file='voc/annotations/voc_2012_train_aug_hetero.json',
        data_prefix=dict(img='VOCdevkit/VOC2012/JPEGImages/')))
val_dataloader = dict(
    dataset=dict(
        type='WeakVOCDataset',
        data_root=data_root,
        ann_file='voc/annotations/voc_2012_val.json',
        data_prefix=dict(img='VOCdevkit/VOC2012/JPEGImages/')))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'voc/annotations/voc_2012_val.json')
test_evaluator = val_evaluator

# 50 epochs of train_aug at 16 images per iteration, with the recipe's LR steps
max_iters = 33000
param_scheduler = dict(end=max_iters, milestones=[29000, 31800])
interval = 3000
train_cfg = dict(max_iters=max_iters, val_interval=interval, dynamic_intervals=None)
default_hooks = dict(checkpoint=dict(interval=interval))
