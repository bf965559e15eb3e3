# WISH R50 on VOC 2012 + SBD from heterogeneous labels: a third of the images each
# with tags, points and boxes. Data and SAM checkpoint in place, run:
#   python tools/train.py configs/wish/wish_r50_voc_hetero.py
#   (another SAM: --cfg-options model.teacher.checkpoint=PATH model.teacher.variant=vit_b;
#   data elsewhere: symlink it to data/ as MMDetection does, or set the dataloaders' data_root)
# The train file:
#   python tools/dataset_converters/coco_to_weak.py data/voc/annotations/voc_2012_train_aug.json \
#       data/voc/annotations/voc_2012_train_aug_hetero.json --counts tag=3528,point=3527,box=3527
_base_ = ['./_base_/wish_r50_lsj_voc.py']

train_dataloader = dict(dataset=dict(ann_file='voc/annotations/voc_2012_train_aug_hetero.json'))
