#!/usr/bin/env bash
# Set everything up, generate the synthetic shapes, train the tiny Mask2Former
# on them on the CPU and evaluate it (COCO bbox and mask AP).
#   bash tools/run_demo.sh            # ITERS=1500 by default, about 10 minutes
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMWISH_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
ITERS="${ITERS:-1500}"
CONFIG=configs/mask2former/mask2former_r18_tiny_shapes.py
WORK="${WORK_DIR:-work_dirs/demo_mask2former_tiny}"

bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
if [ ! -f data/shapes/annotations/instances_val.json ]; then
  echo "[demo] generating the synthetic shapes in data/shapes"
  "$PY" tools/dataset_converters/make_shapes.py data/shapes --seed 0 --num-train 400 --num-val 100
fi
echo "[demo] training $CONFIG for $ITERS iterations on the CPU (log lines show the ETA)"
# --resume: a finished or interrupted demo continues instead of starting over.
"$PY" tools/train.py "$CONFIG" --work-dir "$WORK" --resume \
  --cfg-options train_cfg.max_iters="$ITERS" train_cfg.val_interval="$ITERS" \
  param_scheduler.end="$ITERS" "param_scheduler.milestones=[$((ITERS * 8 / 10))]"
echo "[demo] evaluating $WORK/iter_$ITERS.pth on data/shapes val"
"$PY" tools/test.py "$CONFIG" "$WORK/iter_$ITERS.pth" --work-dir "$WORK/test"
"$PY" - "$WORK/test" <<'PYEOF'
import glob, json, os, sys
latest = max(glob.glob(os.path.join(sys.argv[1], '*', '*.json')), key=os.path.getmtime)
m = json.load(open(latest))
print('[demo] COCO AP on data/shapes val (%s):' % latest)
for task, name in (('segm', 'mask'), ('bbox', 'box')):
    print('  %-4s AP %.3f  AP50 %.3f  AP75 %.3f' % (
        name, m[f'coco/{task}_mAP'], m[f'coco/{task}_mAP_50'], m[f'coco/{task}_mAP_75']))
PYEOF
