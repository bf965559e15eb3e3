# The real-photo benchmark's third set, the one with tags to learn from: the coco128 photo
# Mask2Former (EfficientNet-Lite0 with ImageNet weights, 320 px) on 1,101 distinct photos
# of hand tools, their 17 classes grouped into 6 (screwdriver, wrench, pliers, hammer,
# hand, other tool), 42 % of the photos with two or more (CC BY 4.0; docs/benchmarks.md
# "The tool photos"). Data:
#   python tools/dataset_converters/photo_benchmark.py TOOLS data/tools --split all \
#       --num-val 200 --yolo-classes TOOLS_SRC/data.yaml \
#       --class-groups tools/dataset_converters/class_groups/tools_segmentation_2.json
_base_ = ['./mask2former_effnet-lite0_tiny_coco128.py']

classes = ('screwdriver', 'wrench', 'pliers', 'hammer', 'hand', 'other tool')
num_classes = len(classes)
data_root = 'data/tools/'

model = dict(
    panoptic_head=dict(num_things_classes=num_classes,
                       loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=num_classes))
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=dict(classes=classes)))
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
