"""A COCO instance file turned into a weak-label file (docs/weak_labels.md) by a budget.

Each label type has a cost per image (defaults: tag 1, point 6, box 12; mask is not
offered unless given a cost). A mix is given either as fractions of a total budget or
as exact image counts. Fractions are turned into counts as in the paper's Table 3:
types are allocated from the most expensive to the cheapest, every type but the
cheapest gets ``round(fraction * budget / cost)`` images (halves round up), and the
cheapest gets the budget left over, floor-divided by its cost. A mix of a single type
gets ``round(budget / cost)`` images (10582 / 12 -> 882 boxes). The spent budget may
exceed the budget by this rounding.

Images are assigned by a seeded shuffle of the image ids, then types in the fixed order
mask, box, point, tag (so with one seed, the box images of a smaller box count are a
subset of those of a larger one). Images given no type are left out of the output.

CLI::

    python tools/dataset_converters/coco_to_weak.py in.json out.json \
        --budget 10582 --mix tag=0.5,box=0.5 --seed 0
    python tools/dataset_converters/coco_to_weak.py in.json out.json --counts tag=5290,box=441
    python tools/dataset_converters/coco_to_weak.py in.json --plan 10582
"""
import argparse
import json
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from pycocotools import mask as mask_utils

LABEL_TYPES = ('tag', 'point', 'box', 'mask')
ASSIGN_ORDER = ('mask', 'box', 'point', 'tag')
DEFAULT_COSTS = {'tag': 1, 'point': 6, 'box': 12, 'mask': 0}
POINT_MODES = ('random', 'center', 'box-center')
PLURAL = {'tag': 'tags', 'point': 'points', 'box': 'boxes', 'mask': 'masks'}
# Rows of --plan; those with a type that has no cost are skipped.
PLAN_MIXES = (('tag',), ('point',), ('box',), ('mask',), ('tag', 'box'), ('tag', 'point'),
              ('point', 'box'), ('tag', 'mask'), ('point', 'mask'), ('box', 'mask'))


def parse_pairs(text: str, option: str, number=int) -> Dict[str, float]:
    """Parse ``type=value,type=value`` into a dict, checking names and signs.

    Raises:
        ValueError: an unknown type, a repeated type, a malformed or negative value.
    """
    pairs = {}
    for item in text.split(','):
        name, sep, value = item.strip().partition('=')
        name = name.strip()
        if not sep or not name:
            raise ValueError(f'{option}: cannot read {item!r}; write type=value pairs '
                             f'separated by commas, e.g. tag=1,box=12')
        if name not in LABEL_TYPES:
            raise ValueError(f'{option}: unknown label type {name!r}; choose from '
                             f'{", ".join(LABEL_TYPES)}')
        if name in pairs:
            raise ValueError(f'{option}: {name!r} is given twice')
        try:
            parsed = number(value)
        except ValueError:
            kind = 'a whole number' if number is int else 'a number'
            raise ValueError(f'{option}: {name}={value!r} is not {kind}') from None
        if not math.isfinite(parsed) or parsed < 0:
            raise ValueError(f'{option}: {name}={value} is negative or not finite; '
                             'values must be >= 0')
        pairs[name] = parsed
    return pairs


def parse_costs(text: Optional[str]) -> Dict[str, int]:
    """The default costs updated by ``--costs`` (a cost of 0 means not offered)."""
    costs = dict(DEFAULT_COSTS)
    if text:
        costs.update(parse_pairs(text, '--costs'))
    return costs


def parse_mix(text: str) -> Dict[str, float]:
    """Budget fractions per type from ``--mix``; they must sum to 1."""
    mix = parse_pairs(text, '--mix', number=float)
    total = sum(mix.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f'--mix: the fractions sum to {total:g}; they must sum to 1')
    return mix


def _check_offered(types: Sequence[str], costs: Dict[str, int], option: str):
    for t in types:
        if costs.get(t, 0) <= 0:
            raise ValueError(f'{option} asks for {t} images, but {t} has cost 0 (not '
                             f'offered); give it a cost, e.g. --costs {t}=40')


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def allocate(budget: int, mix: Dict[str, float], costs: Dict[str, int]) -> Dict[str, int]:
    """Image counts per type for budget fractions ``mix`` (the module docstring's rule)."""
    if budget < 0:
        raise ValueError(f'--budget {budget} is negative')
    active = [t for t in LABEL_TYPES if mix.get(t, 0) > 0]
    _check_offered(active, costs, '--mix')
    # Most expensive first; between equal costs the later type in LABEL_TYPES goes first.
    active.sort(key=lambda t: (-costs[t], -LABEL_TYPES.index(t)))
    counts = {t: 0 for t in LABEL_TYPES}
    if len(active) == 1:
        counts[active[0]] = _round_half_up(budget / costs[active[0]])
        return counts
    *others, cheapest = active
    for t in others:
        counts[t] = _round_half_up(mix[t] * budget / costs[t])
    left = budget - spent_budget(counts, costs)
    counts[cheapest] = max(left, 0) // costs[cheapest]
    return counts


def spent_budget(counts: Dict[str, int], costs: Dict[str, int]) -> int:
    """Total cost of the image counts."""
    return sum(n * costs.get(t, 0) for t, n in counts.items())


def plan(budget: int, costs: Dict[str, int]) -> List[Tuple[str, Dict[str, int], int]]:
    """The equal-budget mixes: single types and half/half pairs of the offered types.

    Returns:
        list of (mix name, counts per type, budget spent).
    """
    offered = {t for t in LABEL_TYPES if costs.get(t, 0) > 0}
    rows = []
    for mix in PLAN_MIXES:
        if not offered.issuperset(mix):
            continue
        if len(mix) == 1:
            name, fractions = f'{PLURAL[mix[0]]} only', {mix[0]: 1.0}
        else:
            name = ' + '.join(PLURAL[t] for t in mix) + ' (half/half)'
            fractions = {t: 0.5 for t in mix}
        counts = allocate(budget, fractions, costs)
        rows.append((name, counts, spent_budget(counts, costs)))
    return rows


def format_plan(budget: int, costs: Dict[str, int], num_images: Optional[int] = None) -> str:
    """The plan as a text table; with ``num_images``, say whether each mix fits."""
    types = [t for t in LABEL_TYPES if costs.get(t, 0) > 0]
    cost_text = ', '.join(f'{t}={costs[t]}' for t in types)
    lines = [f'equal-budget mixes for budget {budget} (cost per image: {cost_text})']
    header = f'{"mix":<32}' + ''.join(f'{PLURAL[t]:>8}' for t in types) + f'{"spent":>9}'
    if num_images is not None:
        header += f'{"images":>8}  fits'
    lines.append(header)
    for name, counts, spent in plan(budget, costs):
        line = f'{name:<32}' + ''.join(f'{counts[t]:>8}' for t in types) + f'{spent:>9}'
        if num_images is not None:
            total = sum(counts.values())
            line += f'{total:>8}  ' + ('yes' if total <= num_images else 'no')
        lines.append(line)
    if num_images is not None:
        lines.append(f'the input file has {num_images} images')
    return '\n'.join(lines)


def assign_label_types(image_ids: Sequence[int], counts: Dict[str, int],
                       seed: int = 0) -> Dict[int, str]:
    """Image id -> label type: a seeded shuffle, then types in ``ASSIGN_ORDER``.

    Images not in the result are given no type. Raises ValueError if the counts ask for
    more images than there are.
    """
    needed = sum(counts.values())
    if needed > len(image_ids):
        raise ValueError(f'the mix needs {needed} images but the file has only '
                         f'{len(image_ids)}; lower the budget or the counts')
    order = np.random.default_rng(seed).permutation(len(image_ids))
    assigned, start = {}, 0
    for t in ASSIGN_ORDER:
        for i in order[start:start + counts.get(t, 0)]:
            assigned[image_ids[i]] = t
        start += counts.get(t, 0)
    return assigned


def ann_to_mask(segmentation, height: int, width: int) -> np.ndarray:
    """HxW bool mask of a COCO segmentation (polygons, uncompressed or compressed RLE)."""
    if isinstance(segmentation, list):
        # pycocotools reads a 4-number list as a box, so drop degenerate polygons first.
        polygons = [p for p in segmentation if len(p) >= 6]
        if not polygons:
            return np.zeros((height, width), bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation.get('counts'), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_utils.decode(rle).astype(bool)


def random_point(mask: np.ndarray, rng: np.random.Generator) -> Tuple[float, float]:
    """The centre (x, y) of a uniformly drawn pixel of a non-empty mask."""
    rows, cols = np.nonzero(mask)
    k = int(rng.integers(len(rows)))
    return float(cols[k] + 0.5), float(rows[k] + 0.5)


def center_point(mask: np.ndarray) -> Tuple[float, float]:
    """The centroid (x, y) of a non-empty mask, snapped into it.

    If the pixel under the centroid is outside the mask, the centre of the mask pixel
    nearest to the centroid is returned (ties: smallest row, then column).
    """
    rows, cols = np.nonzero(mask)
    cx, cy = cols.mean() + 0.5, rows.mean() + 0.5
    i = min(int(math.floor(cy)), mask.shape[0] - 1)
    j = min(int(math.floor(cx)), mask.shape[1] - 1)
    if mask[i, j]:
        return float(cx), float(cy)
    dist = (cols + 0.5 - cx) ** 2 + (rows + 0.5 - cy) ** 2
    # nonzero() is row-major, so the first of the (float-tolerant) minima breaks ties.
    k = int(np.flatnonzero(dist <= dist.min() + 1e-9)[0])
    return float(cols[k] + 0.5), float(rows[k] + 0.5)


def box_center(bbox: Sequence[float]) -> Tuple[float, float]:
    """The centre (x, y) of a COCO box [x, y, w, h]."""
    x, y, w, h = bbox
    return float(x + w / 2), float(y + h / 2)


def _box_of(ann: dict, height: int, width: int) -> Optional[List[float]]:
    if 'bbox' in ann:
        return [float(v) for v in ann['bbox']]
    if 'segmentation' not in ann:
        return None
    rle = mask_utils.encode(np.asfortranarray(
        ann_to_mask(ann['segmentation'], height, width).astype(np.uint8)))
    return [float(v) for v in mask_utils.toBbox(rle)]


def _point_of(ann: dict, img: dict, mode: str, rng) -> Optional[Tuple[float, float]]:
    if mode == 'box-center':
        box = _box_of(ann, img['height'], img['width'])
        return box_center(box) if box and box[2] > 0 and box[3] > 0 else None
    if 'segmentation' not in ann:
        raise ValueError(f'annotation {ann["id"]} of image {img["id"]} has no segmentation '
                         f'for --point-mode {mode}; use --point-mode box-center')
    mask = ann_to_mask(ann['segmentation'], img['height'], img['width'])
    if not mask.any():
        return None
    return random_point(mask, rng) if mode == 'random' else center_point(mask)


def _check_input(coco: dict):
    for key in ('images', 'annotations', 'categories'):
        if key not in coco:
            raise ValueError(f'the input has no {key!r} list; is it a COCO instance file?')
    seen = set()
    for img in coco['images']:
        if img.get('label_type', 'mask') != 'mask':
            raise ValueError(f'image {img["id"]} is already a {img["label_type"]!r} image; '
                             'convert a fully annotated COCO instance file')
        if img['id'] in seen:
            raise ValueError(f'image id {img["id"]} appears twice in the input')
        seen.add(img['id'])


def convert_to_weak(coco: dict, counts: Dict[str, int], point_mode: str = 'random',
                    seed: int = 0) -> Tuple[dict, dict]:
    """The weak-label dict for ``counts`` images per type, and a report of what was done.

    Tag images get ``tags`` (sorted unique category ids of their non-crowd annotations)
    and no annotations; point and box annotations keep only id, image_id, category_id and
    the point/box; mask images keep their annotations untouched. Crowd annotations and
    degenerate ones (empty mask, box without area) are dropped from weak images.

    Returns:
        (weak-label dict, report dict with counts, annotations per type, left_out,
        dropped_crowd, dropped_degenerate).
    """
    if point_mode not in POINT_MODES:
        raise ValueError(f'unknown point mode {point_mode!r}; choose from {POINT_MODES}')
    _check_input(coco)
    images = coco['images']
    types = assign_label_types([img['id'] for img in images], counts, seed)
    by_id = {img['id']: img for img in images}
    tags: Dict[int, set] = {i: set() for i, t in types.items() if t == 'tag'}
    point_rng = np.random.default_rng([seed, 1])  # its own stream: points and shuffle apart
    report = dict(counts={t: 0 for t in LABEL_TYPES}, annotations={t: 0 for t in LABEL_TYPES},
                  left_out=len(images) - len(types), dropped_crowd=0, dropped_degenerate=0)
    annotations = []
    for ann in coco['annotations']:
        t = types.get(ann['image_id'])
        if t is None:
            continue
        if t == 'mask':
            annotations.append(ann)
            report['annotations'][t] += 1
            continue
        if ann.get('iscrowd', 0):
            report['dropped_crowd'] += 1
            continue
        if t == 'tag':
            tags[ann['image_id']].add(ann['category_id'])
            continue
        img = by_id[ann['image_id']]
        weak = dict(id=ann['id'], image_id=ann['image_id'], category_id=ann['category_id'])
        if t == 'point':
            value = _point_of(ann, img, point_mode, point_rng)
            key = 'point'
        else:
            value = _box_of(ann, img['height'], img['width'])
            value = value if value and value[2] > 0 and value[3] > 0 else None
            key = 'bbox'
        if value is None:
            report['dropped_degenerate'] += 1
            continue
        weak[key] = list(value)
        annotations.append(weak)
        report['annotations'][t] += 1
    out_images = []
    for img in images:
        t = types.get(img['id'])
        if t is None:
            continue
        img = {k: v for k, v in img.items() if k != 'tags'}
        img['label_type'] = t
        if t == 'tag':
            img['tags'] = sorted(tags[img['id']])
            report['annotations'][t] += len(img['tags'])
        out_images.append(img)
        report['counts'][t] += 1
    weak_coco = dict(coco)
    weak_coco['images'] = out_images
    weak_coco['annotations'] = annotations
    return weak_coco, report


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a whole number') from None
    if value < 0:
        raise argparse.ArgumentTypeError(f'{value} is negative; give a number >= 0')
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError('it must be > 0')
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description='Turn a COCO instance file into a weak-label file (docs/weak_labels.md) '
                    'by an annotation budget, or print the equal-budget mixes (--plan).')
    parser.add_argument('in_json', nargs='?', help='COCO instance JSON (optional with --plan)')
    parser.add_argument('out_json', nargs='?', help='weak-label JSON to write')
    parser.add_argument('--budget', type=_positive_int, help='total budget, with --mix')
    parser.add_argument('--mix', help='budget fractions, e.g. tag=0.5,box=0.5')
    parser.add_argument('--counts', help='exact image counts, e.g. tag=5290,box=441')
    parser.add_argument('--costs', help='cost per image, e.g. tag=1,point=6,box=12,mask=40 '
                        '(default tag=1,point=6,box=12; mask not offered)')
    parser.add_argument('--point-mode', choices=POINT_MODES, default='random',
                        help='how point labels are drawn from masks (default: random)')
    parser.add_argument('--seed', type=_non_negative_int, default=0)
    parser.add_argument('--plan', type=_positive_int, metavar='BUDGET',
                        help='print the equal-budget mixes for BUDGET and write nothing')
    parser.add_argument('--overwrite', action='store_true', help='replace OUT_JSON')
    return parser


def _load(path: str) -> dict:
    if not osp.isfile(path):
        raise SystemExit(f'error: {path} does not exist')
    with open(path) as f:
        return json.load(f)


def _run_plan(args, parser, costs):
    if args.out_json or args.mix or args.counts or args.budget is not None:
        parser.error('--plan prints a table and writes nothing; drop OUT_JSON, --budget, '
                     '--mix and --counts')
    num_images = len(_load(args.in_json)['images']) if args.in_json else None
    print(format_plan(args.plan, costs, num_images))


def _requested_counts(args, parser, costs) -> Dict[str, int]:
    if (args.mix is None) == (args.counts is None):
        parser.error('give either --budget B --mix ... or --counts ... (or --plan B)')
    try:
        if args.counts is not None:
            if args.budget is not None:
                parser.error('--budget goes with --mix; --counts gives the image counts')
            counts = parse_pairs(args.counts, '--counts')
            _check_offered([t for t, n in counts.items() if n > 0], costs, '--counts')
            return {t: counts.get(t, 0) for t in LABEL_TYPES}
        if args.budget is None:
            parser.error('--mix needs --budget')
        return allocate(args.budget, parse_mix(args.mix), costs)
    except ValueError as e:
        parser.error(str(e))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        costs = parse_costs(args.costs)
    except ValueError as e:
        parser.error(str(e))
    if args.plan is not None:
        _run_plan(args, parser, costs)
        return
    if not args.in_json or not args.out_json:
        parser.error('give IN_JSON and OUT_JSON (or --plan BUDGET)')
    counts = _requested_counts(args, parser, costs)
    if not osp.isfile(args.in_json):
        raise SystemExit(f'error: {args.in_json} does not exist')
    if osp.abspath(args.in_json) == osp.abspath(args.out_json) or (
            osp.exists(args.out_json) and osp.samefile(args.in_json, args.out_json)):
        raise SystemExit('error: OUT_JSON is IN_JSON; write the weak-label file elsewhere')
    if osp.exists(args.out_json) and not args.overwrite:
        raise SystemExit(f'error: {args.out_json} already exists; pass --overwrite to '
                         'replace it')
    coco = _load(args.in_json)
    try:
        weak, report = convert_to_weak(coco, counts, args.point_mode, args.seed)
    except ValueError as e:
        raise SystemExit(f'error: {args.in_json}: {e}') from None
    with open(args.out_json, 'w') as f:
        json.dump(weak, f)
    for t in LABEL_TYPES:
        if report['counts'][t]:
            what = 'tags' if t == 'tag' else 'annotations'
            print(f'{t}: {report["counts"][t]} images, {report["annotations"][t]} {what}')
    spent = spent_budget(report['counts'], costs)
    budget = f' of {args.budget}' if args.budget is not None else ''
    print(f'budget spent: {spent}{budget}')
    print(f'left out: {report["left_out"]} of {len(coco["images"])} images (no label type)')
    if report['dropped_crowd'] or report['dropped_degenerate']:
        print(f'dropped from weak images: {report["dropped_crowd"]} crowd and '
              f'{report["dropped_degenerate"]} degenerate annotations')
    print(f'-> {args.out_json}')


if __name__ == '__main__':
    main()
