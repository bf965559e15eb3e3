"""Run a trained model on your own images: overlays and COCO-style results.

    python tools/image_demo.py IMAGE_OR_FOLDER CONFIG CHECKPOINT [--out-dir outputs]
        [--device cpu] [--score-thr 0.3]

MMDetection's DetInferencer underneath: ``OUT/vis/`` holds the overlays, ``OUT/preds/``
one JSON per image, and ``OUT/results.json`` all detections in COCO's results format
(``file_name`` instead of ``image_id``, ``category_id`` the dataset's class index,
``bbox`` as x, y, w, h, ``segmentation`` as RLE). No SAM is needed.
"""
import argparse
import glob
import json
import os
import os.path as osp

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('inputs', help='an image or a folder of images')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--out-dir', default='outputs')
    p.add_argument('--device', default=None, help='cpu, cuda, cuda:1 (default: cuda if any)')
    p.add_argument('--score-thr', type=float, default=0.3)
    p.add_argument('--batch-size', type=int, default=1)
    return p.parse_args(argv)


def list_images(inputs):
    if osp.isdir(inputs):
        files = sorted(f for f in glob.glob(osp.join(inputs, '**', '*'), recursive=True)
                       if f.lower().endswith(IMAGE_EXTS))
        if not files:
            raise SystemExit(f'error: no images ({", ".join(IMAGE_EXTS)}) in {inputs}')
        return files
    if not osp.isfile(inputs):
        raise SystemExit(f'error: {inputs} is neither an image nor a folder')
    return [inputs]


def main(argv=None):
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise SystemExit(f'error: {what} {path} does not exist')
    images = list_images(args.inputs)
    import torch
    from mmdet.apis import DetInferencer
    from mmengine.config import Config

    import mmwish  # noqa: F401  (registration and the checkpoint allow-list)

    cfg = Config.fromfile(args.config)
    # no annotations at inference
    pipeline = cfg.test_dataloader.dataset.pipeline
    cfg.test_dataloader.dataset.pipeline = [t for t in pipeline
                                            if t['type'] != 'LoadAnnotations']
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    inferencer = DetInferencer(model=cfg, weights=args.checkpoint, device=device,
                               show_progress=False)
    os.makedirs(args.out_dir, exist_ok=True)
    out = inferencer(images, batch_size=args.batch_size, out_dir=args.out_dir,
                     pred_score_thr=args.score_thr, no_save_pred=False)
    results = []
    for path, pred in zip(images, out['predictions']):
        for label, score, box, mask in zip(pred['labels'], pred['scores'], pred['bboxes'],
                                           pred.get('masks') or [None] * len(pred['labels'])):
            if score < args.score_thr:
                continue
            x1, y1, x2, y2 = box
            det = dict(file_name=osp.relpath(path, args.inputs) if osp.isdir(args.inputs)
                       else osp.basename(path), category_id=int(label), score=float(score),
                       bbox=[x1, y1, x2 - x1, y2 - y1])
            if mask is not None:
                det['segmentation'] = mask
            results.append(det)
    with open(osp.join(args.out_dir, 'results.json'), 'w') as f:
        json.dump(dict(classes=list(inferencer.model.dataset_meta.get('classes', [])),
                       results=results), f)
    print(f'{len(images)} images, {len(results)} detections with score >= {args.score_thr}: '
          f'{args.out_dir}/vis/ (overlays), {args.out_dir}/results.json')


if __name__ == '__main__':
    main()
