"""The real-photo benchmark from a YOLO-seg export (docs/benchmarks.md "Real photos"):
a fixed seeded train/validation split as COCO instance files, and the training side's
weak-label files (boxes, points, tags, a third each).

    python tools/dataset_converters/photo_benchmark.py coco128-seg data/coco128_seg
        # reads coco128-seg/images/train2017 and coco128-seg/labels/train2017

Writes DATA/annotations/instances_{train,val}.json and instances_train_{box,point,tag,
hetero}.json; the configs read the images from SRC's images folder through
DATA/images, a symlink made here (nothing is copied).
"""
import argparse
import json
import os
import os.path as osp

from mmwish.datasets.converters.photo_split import describe, make_photo_benchmark
from mmwish.datasets.converters.tool_labels import LabelImportError


def weak_counts(num_train: int):
    """All boxes, all points, all tags, and a third each (the rest to tags)."""
    third = num_train // 3
    return dict(box=dict(box=num_train), point=dict(point=num_train),
                tag=dict(tag=num_train),
                hetero=dict(tag=num_train - 2 * third, point=third, box=third))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('source', help='the export: SOURCE/images/SPLIT and SOURCE/labels/SPLIT')
    p.add_argument('out', help='the benchmark folder (DATA)')
    p.add_argument('--split', default='train2017', help="the export's subfolder")
    p.add_argument('--num-val', type=int, default=32)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--yolo-classes', help="classes.txt or data.yaml (default: COCO's 80)")
    p.add_argument('--supercategories', action='store_true',
                   help="group COCO's 80 classes into its 12 supercategories (person, "
                        'vehicle, animal, ...)')
    p.add_argument('--class-groups', help='a JSON file of group name -> class names: the '
                   'groups become the classes (e.g. tools/dataset_converters/class_groups/'
                   'tools_segmentation_2.json)')
    p.add_argument('--overwrite', action='store_true')
    args = p.parse_args(argv)
    image_dir = osp.join(args.source, 'images', args.split)
    labels = osp.join(args.source, 'labels', args.split)
    try:
        written = make_photo_benchmark(labels, image_dir, args.out, args.num_val, args.seed,
                                       args.yolo_classes, weak_counts, args.overwrite,
                                       args.supercategories, args.class_groups)
    except (LabelImportError, FileExistsError, ValueError) as e:
        raise SystemExit(f'error: {e}') from None
    link = osp.join(args.out, 'images')
    if not osp.lexists(link):
        os.symlink(osp.abspath(image_dir), link)
    for path in written.values():
        with open(path) as f:
            print(f'{path}: {describe(json.load(f))}')
    print(f'{link} -> {osp.realpath(link)}')


if __name__ == '__main__':
    main()
