"""A weak-label file from a labelling tool's export (docs/importers.md).

    python tools/dataset_converters/labels_to_weak.py cvat annotations.xml weak.json \
        --classes cat,dog
    python tools/dataset_converters/labels_to_weak.py label-studio export.json weak.json \
        --classes classes.txt --image-dir media/upload
    python tools/dataset_converters/labels_to_weak.py label-studio export.json weak.json \
        --classes classes.txt --path-root data/imgs --image-dir /srv/data/imgs
    python tools/dataset_converters/labels_to_weak.py labelme labelme_jsons/ weak.json \
        --classes classes.txt
    python tools/dataset_converters/labels_to_weak.py yolo labels/ weak.json \
        --image-dir images/ --yolo-classes data.yaml
"""
from mmwish.datasets.converters.tool_labels import main

if __name__ == '__main__':
    main()
