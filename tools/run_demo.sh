#!/usr/bin/env bash
# The demo: set everything up, generate the synthetic shapes, label the training images
# a third each with tags, points and boxes, train WISH on them on the CPU (taught by the
# small SAM in checkpoints/, which never saw these classes), evaluate COCO mask AP and
# write PNG overlays of predictions beside the ground truth.
#   bash tools/run_demo.sh            # ITERS=1500 by default
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMWISH_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
ITERS="${ITERS:-1500}"
CONFIG="${CONFIG:-configs/wish/wish_r18_tiny_shapes_hetero.py}"
WORK="${WORK_DIR:-work_dirs/demo_wish_tiny}"
SAM=checkpoints/sam_tiny_shapes.pth
ANN=data/shapes/annotations

bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
if [ ! -f $ANN/instances_val.json ]; then
  echo "[demo] generating the synthetic shapes in data/shapes"
  "$PY" tools/dataset_converters/make_shapes.py data/shapes --seed 0 --num-train 400 --num-val 100
fi
if [ ! -f $ANN/instances_train_hetero.json ]; then
  echo "[demo] weak labels: 134 tag, 133 point and 133 box images"
  "$PY" tools/dataset_converters/coco_to_weak.py $ANN/instances_train.json \
    $ANN/instances_train_hetero.json --counts tag=134,point=133,box=133 --seed 0
fi
if [ ! -f "$SAM" ]; then
  echo "[demo] $SAM is missing: training the small SAM (about 20 minutes on 2 cores)"
  "$PY" tools/train_sam_shapes.py --out "$SAM" --stop-at 1500
fi
echo "[demo] SAM cache: candidates of every point/box label, embeddings of tag images"
"$PY" tools/sam_cache.py "$CONFIG" --out data/sam_cache
echo "[demo] training $CONFIG for $ITERS iterations on the CPU (log lines show the ETA)"
# --resume: a finished or interrupted demo continues instead of starting over.
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK" --resume \
  --cfg-options model.sam_cache=data/sam_cache train_cfg.max_iters="$ITERS" \
  train_cfg.val_interval="$ITERS" param_scheduler.end="$ITERS" \
  "param_scheduler.milestones=[$((ITERS * 8 / 10))]"
echo "[demo] evaluating $WORK/iter_$ITERS.pth on data/shapes val"
"$PY" tools/test.py "$CONFIG" "$WORK/iter_$ITERS.pth" --work-dir "$WORK/test" \
  --cfg-options test_evaluator.outfile_prefix="$WORK/test/results"
"$PY" tools/overlay_results.py $ANN/instances_val.json "$WORK/test/results.segm.json" \
  data/shapes/images/ --out "$WORK/overlays" --num 6 > /dev/null
"$PY" - "$WORK" <<'PYEOF'
import glob, json, os, sys
work = sys.argv[1]
latest = max(glob.glob(os.path.join(work, 'test', '*', '*.json')), key=os.path.getmtime)
m = json.load(open(latest))
print('[demo] WISH (tags + points + boxes, no mask) on data/shapes val (%s):' % latest)
for task, name in (('segm', 'mask'), ('bbox', 'box')):
    print('  %-4s AP %.3f  AP50 %.3f  AP75 %.3f' % (
        name, m[f'coco/{task}_mAP'], m[f'coco/{task}_mAP_50'], m[f'coco/{task}_mAP_75']))
print('[demo] overlays (ground truth | prediction): %s/overlays/*.png' % work)
print('[demo] what the numbers mean: docs/benchmarks.md')
PYEOF
