# WISH R50 on VOC 2012 + SBD, every train_aug image labelled by its tags (paper: 46.0 AP).
#   python tools/dataset_converters/coco_to_weak.py data/voc/annotations/voc_2012_train_aug.json \
#       data/voc/annotations/voc_2012_train_aug_tag.json --counts tag=10582
_base_ = ['./_base_/wish_r50_lsj_voc.py']

train_dataloader = dict(dataset=dict(ann_file='voc/annotations/voc_2012_train_aug_tag.json'))
