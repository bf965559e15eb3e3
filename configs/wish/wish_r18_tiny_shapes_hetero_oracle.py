# configs/wish/wish_r18_tiny_shapes_hetero.py taught by the oracle teacher: the true
# masks of data/shapes' training file answer every prompt (the object, a part of it
# and a superset, at a random index per object; ambiguity=False: the object 3 times),
# and the small SAM's prompt encoder gives the latents. It tells the method's losses
# from the teacher's. The weak file keeps each annotation's id; the masks stay in the
# source file, which only the teacher reads:
#   python tools/dataset_converters/make_shapes.py data/shapes
#   python tools/dataset_converters/coco_to_weak.py data/shapes/annotations/instances_train.json \
#       data/shapes/annotations/instances_train_hetero.json --counts tag=134,point=133,box=133
# Other label files as in the hetero config, e.g.
#   --cfg-options train_dataloader.dataset.ann_file=annotations/instances_train_box.json
_base_ = ['./wish_r18_tiny_shapes_hetero.py']

model = dict(
    teacher=dict(
        _delete_=True,
        type='OracleTeacher',
        source_ann_file='data/shapes/annotations/instances_train.json',
        ambiguity=True,
        checkpoint='checkpoints/sam_tiny_shapes.pth',
        variant='custom',
        arch={{_base_.sam_arch}}),
    sam_cache=None)
