"""Turn a COCO instance file into a weak-label file by an annotation budget.

    python tools/dataset_converters/coco_to_weak.py data/voc/annotations/voc_2012_train_aug.json \
        data/voc/annotations/weak_tag_box.json --budget 10582 --mix tag=0.5,box=0.5 --seed 0
    python tools/dataset_converters/coco_to_weak.py --plan 10582
"""
from mmwish.datasets.converters.weak_budget import main

if __name__ == '__main__':
    main()
