# Table 3 of the paper, budget 10,582 (tag 1, point 6, box 12): all of it on tags,
# 10,582 tag images (paper: 46.0 AP).
#   python tools/dataset_converters/coco_to_weak.py data/voc/annotations/voc_2012_train_aug.json \
#       data/voc/annotations/voc_2012_train_aug_budget_tags.json --budget 10582 --mix tag=1
# (python tools/dataset_converters/coco_to_weak.py --plan 10582 prints the three rows)
_base_ = ['./_base_/wish_r50_lsj_voc.py']

train_dataloader = dict(
    dataset=dict(ann_file='voc/annotations/voc_2012_train_aug_budget_tags.json'))
