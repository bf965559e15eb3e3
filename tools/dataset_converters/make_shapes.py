"""Generate the synthetic shapes dataset (COCO instance JSON with RLE masks).

    python tools/dataset_converters/make_shapes.py data/shapes --seed 0 \
        --num-train 200 --num-val 50
"""
from mmwish.datasets.synthetic_shapes import main

if __name__ == '__main__':
    main()
