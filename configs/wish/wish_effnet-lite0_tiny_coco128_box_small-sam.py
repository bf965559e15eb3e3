# WISH on the real-photo benchmark from boxes, taught by the small SAM of the shapes (a
# teacher that has never seen a photo): what a wrong teacher costs, beside the oracle's
# rows (docs/benchmarks.md "Real photos"; row small_sam_box of
# benchmarks/photo_quality.py). Data (docs/benchmarks.md "Real photos"), whose tool
# writes this weak file too:
#   python tools/dataset_converters/photo_benchmark.py coco128-seg data/coco128_seg --supercategories
#   python tools/dataset_converters/coco_to_weak.py data/coco128_seg/annotations/instances_train.json \
#       data/coco128_seg/annotations/instances_train_box.json --counts box=94
# ruff: noqa: E501
_base_ = ['./wish_effnet-lite0_tiny_coco128_hetero_oracle.py']

model = dict(
    teacher=dict(_delete_=True, type='SAMTeacher', checkpoint='checkpoints/sam_tiny_shapes.pth',
                 variant='custom', arch={{_base_.sam_arch}}))
train_dataloader = dict(dataset=dict(ann_file='annotations/instances_train_box.json'))
