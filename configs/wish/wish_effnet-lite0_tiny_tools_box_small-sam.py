# ruff: noqa: E501  (the data commands below are copied whole)
# WISH on the tool photos from boxes, taught by the small SAM of the shapes (a teacher
# that has never seen a photo): what a wrong teacher costs, beside the oracle's rows
# (docs/benchmarks.md "The tool photos"; row small_sam_box_iou_margin of
# `benchmarks/photo_quality.py --set tools`).
# Data (docs/benchmarks.md "The tool photos"), whose tool writes this weak file too:
#   python tools/dataset_converters/photo_benchmark.py TOOLS data/tools --split all \
#       --num-val 200 --yolo-classes TOOLS_SRC/data.yaml \
#       --class-groups tools/dataset_converters/class_groups/tools_segmentation_2.json
#   python tools/dataset_converters/coco_to_weak.py data/tools/annotations/instances_train.json \
#       data/tools/annotations/instances_train_box.json --counts box=901
_base_ = ['./wish_effnet-lite0_tiny_tools_hetero_oracle.py']

model = dict(
    teacher=dict(_delete_=True, type='SAMTeacher', checkpoint='checkpoints/sam_tiny_shapes.pth',
                 variant='custom', arch={{_base_.sam_arch}}))
train_dataloader = dict(dataset=dict(ann_file='annotations/instances_train_box.json'))
