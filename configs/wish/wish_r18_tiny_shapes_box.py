# configs/wish/wish_r18_tiny_shapes_hetero.py with every training image labelled by boxes:
#   python tools/dataset_converters/coco_to_weak.py data/shapes/annotations/instances_train.json \
#       data/shapes/annotations/instances_train_box.json --counts box=400
_base_ = ['./wish_r18_tiny_shapes_hetero.py']

train_dataloader = dict(dataset=dict(ann_file='annotations/instances_train_box.json'))
