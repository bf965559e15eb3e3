# WISH R50 on COCO 2017, a third of the images each with tags, points and boxes.
#   python tools/dataset_converters/coco_to_weak.py data/coco/annotations/instances_train2017.json \
#       data/coco/annotations/instances_train2017_hetero.json \
#       --counts tag=39429,point=39429,box=39429
_base_ = ['./_base_/wish_r50_lsj_coco.py']

train_dataloader = dict(dataset=dict(ann_file='annotations/instances_train2017_hetero.json'))
