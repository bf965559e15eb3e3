# ruff: noqa: E501  (the data commands below are copied whole)
# WISH on the tool photos (configs/mask2former/mask2former_effnet-lite0_tiny_tools.py's
# network and data, 6 classes), from a third each of tags, points and boxes, taught by
# the oracle teacher (the training file's true masks answer every prompt: the object, a
# part and a superset at a random index).
# Other labels: --cfg-options train_dataloader.dataset.ann_file=annotations/instances_train_box.json
# (or _point, _tag).
# Data (docs/benchmarks.md "The tool photos"), whose tool writes the weak files too (or by hand, below):
#   python tools/dataset_converters/photo_benchmark.py TOOLS data/tools --split all \
#       --num-val 200 --yolo-classes TOOLS_SRC/data.yaml \
#       --class-groups tools/dataset_converters/class_groups/tools_segmentation_2.json
#   python tools/dataset_converters/coco_to_weak.py data/tools/annotations/instances_train.json \
#       data/tools/annotations/instances_train_hetero.json --counts tag=301,point=300,box=300
_base_ = ['./wish_effnet-lite0_tiny_coco128_hetero_oracle.py']

classes = ('screwdriver', 'wrench', 'pliers', 'hammer', 'hand', 'other tool')
num_classes = len(classes)
data_root = 'data/tools/'

model = dict(
    # the minimum over the candidates within 0.1 of the best IoU score (the R50 configs'
    # default): every WISH row on the tools takes it
    panoptic_head=dict(num_things_classes=num_classes,
                       loss_cls=dict(class_weight=[1.0] * num_classes + [0.1]),
                       candidate_iou_margin=0.1),
    panoptic_fusion_head=dict(num_things_classes=num_classes),
    cam_neck=dict(num_classes=num_classes),
    teacher=dict(source_ann_file=data_root + 'annotations/instances_train.json'),
    self_enhancement=dict(warmup_iters=333),
    pseudo_point_warmup=200)
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=dict(classes=classes),
                                     ann_file='annotations/instances_train_hetero.json'))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=dict(classes=classes)))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# the tools' schedule: 1,000 iterations (500 do not train the reference; docs/benchmarks.md
# "The tool photos")
max_iters = 1000
param_scheduler = dict(end=max_iters, milestones=[max_iters * 8 // 10])
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
