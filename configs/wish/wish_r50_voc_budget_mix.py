# Table 3 of the paper, budget 10,582: half on tags, half on boxes, 5,290 tag images and
# 441 box images (paper: 48.3 AP, above both single-type rows).
#   python tools/dataset_converters/coco_to_weak.py data/voc/annotations/voc_2012_train_aug.json \
#       data/voc/annotations/voc_2012_train_aug_budget_mix.json --budget 10582 --mix tag=0.5,box=0.5
_base_ = ['./_base_/wish_r50_lsj_voc.py']

train_dataloader = dict(dataset=dict(ann_file='voc/annotations/voc_2012_train_aug_budget_mix.json'))
