"""An offline cache of what WISH needs from SAM's image encoder, per image.

SAM's image encoder dominates the teacher's cost (ViT-H: ~60 ms per 1024 px
image in bf16 on an H100, against ~330 ms for a whole Mask2Former R50 step), so
it runs once per image, offline (``tools/sam_cache.py``), not once per step.

Layout: ``<root>/<first 16 hex of the checkpoint's SHA-256>/`` holds
``meta.json`` (checkpoint path and hash, variant, SAM input size, ``format``) and one
``<image id>.npz`` per image (zip-compressed), written atomically, so several
processes can fill one cache in shards. An entry holds, in the original image's frame:

- ``masks``: SAM's 3 candidates for each fixed prompt (the image's points, then
  boxes) at the original image's resolution, as SAM's own post-processing gives them
  (low-res logits upsampled, thresholded at 0), bit-packed: ``H*W/8`` bytes per
  candidate before compression, with ``iou`` (fp16) and the ``prompts`` they came
  from. They are upsampled a few prompts at a time (:data:`CHUNK_BYTES`): beyond one
  chunk, a prompt costs a large photo only its packed bits. (Format 1 stored them
  binarised at SAM's low resolution, which lost the small objects' outline: it is
  refused.)
- ``embedding`` (optional, fp16, ``C x S/16 x S/16``: 2 MiB for the public SAMs; SAM
  2's three levels packed on that grid, ``4C`` channels, 8 MiB): for tag images, whose
  pseudo points change during training.

Training reads an entry by image id and maps it into the augmented frame with
the ``homography_matrix`` mmdet's transforms recorded. A cache made with another
checkpoint lives under another hash and is never read by mistake.
"""
import json
import os
import os.path as osp
from typing import Dict, Optional, Tuple

import numpy as np
import torch

FORMAT = 2  # meta.json's 'format'; see the layout above
# Upsampled float32 logits that cache_shard holds at once, whatever the number of prompts
# (at least one prompt's 3 x H x W: 288 MB for a 6000x4000 photo).
CHUNK_BYTES = 256 * 2 ** 20


class SAMCacheError(RuntimeError):
    """The cache is missing, stale or incomplete; the message says how to rebuild it."""


def cache_dir(root: str, checkpoint_hash: str) -> str:
    return osp.join(root, checkpoint_hash[:16])


def entry_path(folder: str, img_id) -> str:
    return osp.join(folder, f'{img_id}.npz')


def write_meta(root: str, checkpoint: str, checkpoint_hash: str, variant: str,
               image_size: int) -> str:
    """Create the cache folder of a checkpoint and its ``meta.json``; return the folder."""
    folder = cache_dir(root, checkpoint_hash)
    os.makedirs(folder, exist_ok=True)
    meta = dict(checkpoint=osp.abspath(checkpoint), sha256=checkpoint_hash, variant=variant,
                image_size=image_size, format=FORMAT)
    tmp = osp.join(folder, f'.meta.{os.getpid()}.json')
    with open(tmp, 'w') as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, osp.join(folder, 'meta.json'))
    return folder


def pack_masks(masks: torch.Tensor) -> np.ndarray:
    """(n, 3, H, W) bool masks -> (n, 3, ceil(H * W / 8)) uint8: each candidate's bits."""
    bits = masks.cpu().numpy().astype(bool, copy=False)
    return np.packbits(bits.reshape(*bits.shape[:2], -1), axis=-1)


def write_entry(folder: str, img_id, prompts: np.ndarray, masks: Optional[torch.Tensor] = None,
                iou: Optional[torch.Tensor] = None,
                embedding: Optional[torch.Tensor] = None,
                packed: Optional[Tuple[np.ndarray, Tuple[int, int]]] = None) -> int:
    """Write one image's entry atomically; return its size in bytes.

    Args:
        prompts: (n, 4) float32: points as (x, y, nan, nan), boxes as xyxy, in the
            original image's continuous coordinates (kept to detect edited labels).
        masks: (n, 3, H, W) bool candidates at the original image's resolution.
        iou: (n, 3) SAM's IoU predictions.
        embedding: (C, h, w) image embedding.
        packed: instead of ``masks``, their bits already packed (:func:`pack_masks`)
            and their (H, W).
    """
    arrays = dict(prompts=np.asarray(prompts, np.float32).reshape(-1, 4))
    if masks is not None:
        packed = pack_masks(masks), tuple(masks.shape[-2:])
    if packed is not None:
        arrays['masks'] = packed[0]
        arrays['mask_hw'] = np.asarray(packed[1], np.int64)
        arrays['iou'] = iou.detach().cpu().numpy().astype(np.float16)
    if embedding is not None:
        arrays['embedding'] = embedding.detach().cpu().numpy().astype(np.float16)
    path = entry_path(folder, img_id)
    tmp = osp.join(folder, f'.{img_id}.{os.getpid()}.npz')
    with open(tmp, 'wb') as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)
    return osp.getsize(path)


class SAMCache:
    """Read entries of the cache made with a given checkpoint.

    Args:
        root (str): the cache root given to ``tools/sam_cache.py --out``.
        checkpoint_hash (str): SHA-256 of the teacher's checkpoint.
    """

    def __init__(self, root: str, checkpoint_hash: str):
        self.root = root
        self.folder = cache_dir(root, checkpoint_hash)
        meta_file = osp.join(self.folder, 'meta.json')
        if not osp.isfile(meta_file):
            others = sorted(d for d in os.listdir(root)
                            if osp.isfile(osp.join(root, d, 'meta.json'))) if osp.isdir(root) \
                else []
            made_with = (f'; it holds caches of other checkpoints ({", ".join(others)}), '
                         'not of this one') if others else ''
            raise SAMCacheError(
                f'no SAM cache for checkpoint {checkpoint_hash[:16]} in {root}{made_with}; '
                'build it with: python tools/sam_cache.py CONFIG --out ' + root)
        with open(meta_file) as f:
            self.meta = json.load(f)
        if self.meta.get('sha256') != checkpoint_hash:
            raise SAMCacheError(f'{meta_file} was made with checkpoint {self.meta.get("sha256")}'
                                f', not {checkpoint_hash}; rebuild it with tools/sam_cache.py')
        if self.meta.get('format', 1) != FORMAT:
            raise SAMCacheError(
                f'{self.folder} is a format-{self.meta.get("format", 1)} SAM cache (candidates '
                f'at SAM\'s low resolution); mmwish reads format {FORMAT} (candidates at the '
                f'image\'s resolution). Delete it and rebuild it with: python tools/sam_cache.py '
                f'CONFIG --out {root}')

    def path(self, img_id) -> str:
        return entry_path(self.folder, img_id)

    def __contains__(self, img_id) -> bool:
        return osp.isfile(self.path(img_id))

    def read(self, img_id) -> Dict[str, torch.Tensor]:
        """An entry as tensors: ``prompts``, and ``masks`` (n, 3, H, W) bool with
        ``iou`` (n, 3) and/or ``embedding`` (C, h, w) float32."""
        path = self.path(img_id)
        if not osp.isfile(path):
            raise SAMCacheError(f'the SAM cache {self.folder} has no entry for image {img_id}; '
                                'rebuild it with tools/sam_cache.py (was the annotation file '
                                'changed after the cache was made?)')
        with np.load(path, allow_pickle=False) as z:
            out = dict(prompts=torch.from_numpy(z['prompts']))
            if 'masks' in z:
                h, w = (int(v) for v in z['mask_hw'])
                bits = np.unpackbits(z['masks'], axis=-1, count=h * w).astype(bool)
                out['masks'] = torch.from_numpy(bits.reshape(*bits.shape[:2], h, w))
                out['iou'] = torch.from_numpy(z['iou'].astype(np.float32))
            if 'embedding' in z:
                out['embedding'] = torch.from_numpy(z['embedding'].astype(np.float32))
        return out


def prompts_array(points: Optional[np.ndarray], boxes: Optional[np.ndarray]) -> np.ndarray:
    """(n, 4) prompt record: points as (x, y, nan, nan), then boxes as xyxy."""
    rows = []
    if points is not None and len(points):
        p = np.asarray(points, np.float32).reshape(-1, 2)
        rows.append(np.concatenate([p, np.full_like(p, np.nan)], axis=1))
    if boxes is not None and len(boxes):
        rows.append(np.asarray(boxes, np.float32).reshape(-1, 4))
    return np.concatenate(rows) if rows else np.zeros((0, 4), np.float32)


def image_prompts(data_info: dict):
    """The fixed prompts of a WeakCocoDataset image, in its original frame:
    ((n, 2) points or None, (m, 4) xyxy boxes or None)."""
    label_type = data_info.get('label_type', 'mask')
    instances = data_info.get('instances', [])
    if label_type == 'point':
        return np.asarray([i['point'] for i in instances], np.float32).reshape(-1, 2), None
    if label_type == 'box':
        return None, np.asarray([i['bbox'] for i in instances], np.float32).reshape(-1, 4)
    return None, None


def candidate_bits(teacher, logits: torch.Tensor, hw: Tuple[int, int]) -> np.ndarray:
    """SAM's candidates of an image at its resolution ``hw``, bit-packed
    (:func:`pack_masks`): low-res ``logits`` (n, 3, L, L) upsampled and thresholded at 0,
    a few prompts at a time, so that at most :data:`CHUNK_BYTES` of upsampled logits
    (and at least one prompt's) exist at once, however many prompts the image has.
    Each prompt's masks are what one call for all prompts gives, bit for bit."""
    step = max(1, CHUNK_BYTES // (3 * hw[0] * hw[1] * 4))
    return np.concatenate([pack_masks(teacher.to_frame(logits[i:i + step], hw, hw) > 0)
                           for i in range(0, max(len(logits), 1), step)])


def cache_shard(teacher, data_infos, folder: str, shard: int = 0, num_shards: int = 1,
                embeddings: str = 'tag', device='cpu', read_image=None, log=print) -> dict:
    """Fill the cache with the images ``i`` of ``data_infos`` with ``i % num_shards == shard``.

    Point and box images get their candidates; ``embeddings`` says which images also
    get their embedding: ``tag`` (tag images only), ``all`` or ``none``. Mask images
    need nothing from SAM. Entries already present are kept (a rerun resumes).

    Returns:
        dict with ``images`` written, ``skipped`` and ``bytes`` written.
    """
    if read_image is None:
        import mmcv

        def read_image(path):
            image = mmcv.imread(path)  # as LoadImageFromFile: cv2, EXIF applied, 3 x uint8
            if image is None:  # (channel_order='rgb' would fail in cvtColor instead)
                raise SAMCacheError(f'{path}: cv2 cannot decode this image; convert it to '
                                    'PNG or JPEG')
            return mmcv.bgr2rgb(image)
    stats = dict(images=0, skipped=0, bytes=0)
    todo = [info for i, info in enumerate(data_infos) if i % num_shards == shard]
    for n, info in enumerate(todo):
        label_type = info.get('label_type', 'mask')
        want_embedding = embeddings == 'all' or (embeddings == 'tag' and label_type == 'tag')
        if label_type == 'mask' or (label_type == 'tag' and not want_embedding):
            continue
        if osp.isfile(entry_path(folder, info['img_id'])):
            stats['skipped'] += 1
            continue
        image = read_image(info['img_path'])
        emb = teacher.encode_original(image, device=device)
        points, boxes = image_prompts(info)
        hw = image.shape[:2]
        packed = iou = None
        if label_type in ('point', 'box'):
            logits, iou = teacher.decode(
                emb, hw,
                points=None if points is None else torch.from_numpy(points).to(device),
                boxes=None if boxes is None else torch.from_numpy(boxes).to(device))
            packed = candidate_bits(teacher, logits, hw), hw
        stats['bytes'] += write_entry(folder, info['img_id'], prompts_array(points, boxes),
                                      packed=packed, iou=iou,
                                      embedding=emb[0] if want_embedding else None)
        stats['images'] += 1
        if log and (n + 1) % 100 == 0:
            log(f'[shard {shard}/{num_shards}] {n + 1}/{len(todo)} images')
    return stats
