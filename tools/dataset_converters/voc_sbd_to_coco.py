"""Convert PASCAL VOC 2012 + SBD instance annotations to COCO JSON (train_aug and val).

    python tools/dataset_converters/voc_sbd_to_coco.py --voc data/VOCdevkit/VOC2012 \
        --sbd data/SBD --out data/voc/annotations
"""
from mmwish.datasets.converters.voc_sbd import main

if __name__ == '__main__':
    main()
