# ruff: noqa: E501  (the data commands below are copied whole)
# WISH on the feral-cat photos from boxes, taught by the small SAM of the shapes (a
# teacher that has never seen a photo): what a wrong teacher costs, beside the oracle's
# rows (docs/benchmarks.md "Real photos"; row small_sam_box of
# `benchmarks/photo_quality.py --set feral_cat`).
# Data (docs/benchmarks.md "Real photos"), whose tool writes this weak file too:
#   python tools/dataset_converters/photo_benchmark.py FERAL data/feral_cat --split all \
#       --num-val 200 --yolo-classes FERAL/data.yaml
#   python tools/dataset_converters/coco_to_weak.py data/feral_cat/annotations/instances_train.json \
#       data/feral_cat/annotations/instances_train_box.json --counts box=795
_base_ = ['./wish_effnet-lite0_tiny_feralcat_box_oracle.py']

model = dict(
    teacher=dict(_delete_=True, type='SAMTeacher', checkpoint='checkpoints/sam_tiny_shapes.pth',
                 variant='custom', arch={{_base_.sam_arch}}))
