# WISH R50 on COCO 2017, every image labelled by points.
#   python tools/dataset_converters/coco_to_weak.py data/coco/annotations/instances_train2017.json \
#       data/coco/annotations/instances_train2017_point.json --counts point=118287
_base_ = ['./_base_/wish_r50_lsj_coco.py']

train_dataloader = dict(dataset=dict(ann_file='annotations/instances_train2017_point.json'))
