#!/usr/bin/env bash
# Distributed training with torchrun, one process per GPU (or per CPU worker
# with a gloo config):  bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args]
# Several nodes: set NNODES, NODE_RANK, MASTER_ADDR and PORT on each node.
set -euo pipefail
CONFIG=$1
NPROCS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}

PYTHONPATH="$(dirname "$0")/..${PYTHONPATH:+:$PYTHONPATH}" \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROCS" --master_port="$PORT" \
    "$(dirname "$0")/train.py" "$CONFIG" --launcher pytorch "${@:3}"
