# Table 3 of the paper, budget 10,582: all of it on boxes, 882 box images (paper: 45.1 AP).
#   python tools/dataset_converters/coco_to_weak.py data/voc/annotations/voc_2012_train_aug.json \
#       data/voc/annotations/voc_2012_train_aug_budget_boxes.json --budget 10582 --mix box=1
_base_ = ['./_base_/wish_r50_lsj_voc.py']

train_dataloader = dict(
    dataset=dict(ann_file='voc/annotations/voc_2012_train_aug_budget_boxes.json'))
