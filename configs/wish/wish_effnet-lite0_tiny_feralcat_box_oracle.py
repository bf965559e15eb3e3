# ruff: noqa: E501  (the data commands below are copied whole)
# WISH on the feral-cat photos (configs/mask2former/mask2former_effnet-lite0_tiny_feralcat.py's
# network and data), from boxes, taught by the oracle teacher (the training file's true
# masks answer every prompt: the object, a part and a superset at a random index).
# Points: --cfg-options train_dataloader.dataset.ann_file=annotations/instances_train_point.json
# Tags are not offered on this set: with one class every image has the same tag, so the
# CAM branch has nothing to learn from.
# Data (docs/benchmarks.md "Real photos"), whose tool writes the weak files too (or by hand, below):
#   python tools/dataset_converters/photo_benchmark.py FERAL data/feral_cat --split all \
#       --num-val 200 --yolo-classes FERAL/data.yaml
#   python tools/dataset_converters/coco_to_weak.py data/feral_cat/annotations/instances_train.json \
#       data/feral_cat/annotations/instances_train_box.json --counts box=795
_base_ = ['./wish_effnet-lite0_tiny_coco128_hetero_oracle.py']

classes = ('cat', )
num_classes = len(classes)
data_root = 'data/feral_cat/'

model = dict(
    panoptic_head=dict(num_things_classes=num_classes,
                       loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=num_classes),
    cam_neck=dict(num_classes=num_classes),
    teacher=dict(source_ann_file=data_root + 'annotations/instances_train.json'))
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=dict(classes=classes),
                                     ann_file='annotations/instances_train_box.json'))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=dict(classes=classes)))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
