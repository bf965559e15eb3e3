# The real-photo benchmark's second set: the coco128 photo Mask2Former (EfficientNet-Lite0
# with ImageNet weights, 320 px) on 995 distinct photos of feral cats with one polygon per
# cat (one class; Public Domain; docs/benchmarks.md "Real photos"). Data:
#   python tools/dataset_converters/photo_benchmark.py FERAL data/feral_cat --split all \
#       --num-val 200 --yolo-classes FERAL/data.yaml
_base_ = ['./mask2former_effnet-lite0_tiny_coco128.py']

classes = ('cat', )
num_classes = len(classes)
data_root = 'data/feral_cat/'

model = dict(
    panoptic_head=dict(num_things_classes=num_classes,
                       loss_cls=dict(class_weight=[1.0] * num_classes + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=num_classes))
train_dataloader = dict(dataset=dict(data_root=data_root, metainfo=dict(classes=classes)))
val_dataloader = dict(dataset=dict(data_root=data_root, metainfo=dict(classes=classes)))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
