#!/usr/bin/env bash
# The demo: set everything up, generate the synthetic shapes, label the training images
# a third each with tags, points and boxes, train WISH on them on the CPU (taught by the
# small SAM in checkpoints/, which never saw these classes; from the ResNet-18 pretrained
# on shape crops that ships in checkpoints/), evaluate COCO mask AP per class beside the
# committed fully supervised reference, and draw ground truth beside prediction.
#   bash tools/run_demo.sh        # ITERS=1500 SEED=0 by default
# A second run reuses the data, the SAM cache and a finished training (WORK_DIR=... or
# SEED=1 trains anew).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMWISH_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
ITERS="${ITERS:-1500}"
SEED="${SEED:-0}"
CONFIG="${CONFIG:-configs/wish/wish_r18-half_tiny_shapes_hetero.py}"
WORK="${WORK_DIR:-work_dirs/demo_wish_seed$SEED}"
SAM=checkpoints/sam_tiny_shapes.pth
ANN=data/shapes/annotations
# setuptools' notice about mmengine's use of pkg_resources says nothing to a demo user
export PYTHONWARNINGS="ignore:pkg_resources is deprecated:UserWarning"

TIMES=""
START=$SECONDS
stage() {  # stage NAME COMMAND...: run it, say how long it took
  local name="$1" t0=$SECONDS
  shift
  echo "[demo] $name ..."
  "$@"
  echo "[demo] $name: done in $((SECONDS - t0)) s"
  TIMES="$TIMES$name: $((SECONDS - t0))"$'\n'
}

data() {
  if [ ! -f $ANN/instances_val.json ]; then
    echo "[demo] generating 400 training and 100 validation images in data/shapes"
    "$PY" tools/dataset_converters/make_shapes.py data/shapes --seed 0 --num-train 400 \
      --num-val 100
  else
    echo "[demo] data/shapes exists: reused"
  fi
  if [ ! -f $ANN/instances_train_hetero.json ]; then
    echo "[demo] weak labels: 134 tag, 133 point and 133 box images, no mask"
    "$PY" tools/dataset_converters/coco_to_weak.py $ANN/instances_train.json \
      $ANN/instances_train_hetero.json --counts tag=134,point=133,box=133 --seed 0
  fi
  if [ ! -f "$SAM" ]; then
    echo "[demo] $SAM is missing: training the small SAM (about 20 minutes on 2 cores)"
    "$PY" tools/train_sam_shapes.py --out "$SAM" --stop-at 1500
  fi
}

train() {
  echo "[demo] $CONFIG, $ITERS iterations, seed $SEED, in $WORK (full log: $WORK/train.log)"
  mkdir -p "$WORK"
  # --resume: a finished or interrupted demo continues instead of starting over.
  "$PY" tools/train.py "$CONFIG" --work-dir "$WORK" --resume \
    --cfg-options model.sam_cache=data/sam_cache randomness.seed="$SEED" \
    train_cfg.max_iters="$ITERS" train_cfg.val_interval="$ITERS" \
    param_scheduler.end="$ITERS" "param_scheduler.milestones=[$((ITERS * 8 / 10))]" \
    default_hooks.checkpoint.interval="$ITERS" 2>&1 | tee "$WORK/train.log" | sed -unE \
    's/.*Iter\(train\) *\[ *([0-9]*00)\/ *([0-9]+)\].*eta: ([0-9:]+).* loss: ([0-9.]+).*/  iter \1\/\2  eta \3  loss \4/p; /Error/p'
}

evaluate() {
  "$PY" tools/test.py "$CONFIG" "$WORK/iter_$ITERS.pth" --work-dir "$WORK/test" \
    --cfg-options test_evaluator.outfile_prefix="$WORK/test/results" > "$WORK/test.log" 2>&1 \
    || { tail -20 "$WORK/test.log"; exit 1; }
}

overlays() {
  rm -rf "$WORK/overlays"
  "$PY" tools/overlay_results.py $ANN/instances_val.json "$WORK/test/results.segm.json" \
    data/shapes/images/ --out "$WORK/overlays" --num 12 --sheet "$WORK/overview.png" \
    > /dev/null
}

stage setup bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
stage data data
stage "SAM cache" "$PY" tools/sam_cache.py "$CONFIG" --out data/sam_cache
stage training train
stage evaluation evaluate
stage overlays overlays
printf '%s' "$TIMES" > "$WORK/stage_times.txt"
METRICS="$(ls -t "$WORK"/test/*/*.json | head -1)"
"$PY" tools/demo_report.py $ANN/instances_val.json "$WORK/test/results.segm.json" "$METRICS" \
  --reference demo_masks --same-config demo_hetero --times "$WORK/stage_times.txt"
echo "[demo] all stages: $(((SECONDS - START) / 60)) min $(((SECONDS - START) % 60)) s;" \
  "what the numbers mean: docs/benchmarks.md"
echo "[demo] overview (ground truth | prediction, 12 validation images): $WORK/overview.png"
