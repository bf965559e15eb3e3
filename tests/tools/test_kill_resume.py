"""A training run killed with SIGKILL after a checkpoint and resumed with --resume ends
with the same weights as an uninterrupted run (deterministic CPU mode), and the WISH
warm-up resumes at the resumed iteration.

The derived config adds mmwish.engine's ``RNGStateHook``: MMEngine reseeds a resumed run
from ``randomness.seed``, so without it torch's stream (Mask2Former's random matching
and loss points) restarts and the weights differ after the first resumed step (see
docs/distributed.md). The random flip/resize/crop stay on: their numpy draws are
replayed by MMEngine's data-loader fast-forward.
"""
import os
import signal
import subprocess
import time

import torch

from .wish_runs import env_for, hetero_data, records, run, train_cmd, write_config

N, K = 6, 2  # iterations; the checkpoint after which the run is killed
RESUMABLE = f'''
custom_imports = dict(imports=['mmwish', 'mmwish.engine', 'rank_recorder'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='RankRecorderHook'), dict(type='RNGStateHook')]
randomness = dict(seed=0, deterministic=True)
train_cfg = dict(max_iters={N})
# L_se starts at iteration 4 (the runner's 0-based iter 3): it straddles the resume
model['self_enhancement'] = dict(loss_weight=1.0, warmup_iters=3, score_thr=0.0)
'''


def last_checkpoint_iter(work_dir):
    path = work_dir / 'last_checkpoint'
    if not path.is_file():
        return 0
    name = os.path.basename(path.read_text().strip())
    return int(name[len('iter_'):-len('.pth')]) if name.startswith('iter_') else 0


def test_killed_run_resumes_to_the_same_weights(tmp_path, tiny_ckpt):
    data = hetero_data(tmp_path)
    config = write_config(tmp_path, data, tiny_ckpt, RESUMABLE)
    work_a, work_b = tmp_path / 'uninterrupted', tmp_path / 'killed'

    run(train_cmd(config, work_a), tmp_path)

    proc = subprocess.Popen(train_cmd(config, work_b), cwd=str(tmp_path), env=env_for(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while last_checkpoint_iter(work_b) < K and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    killed_at = last_checkpoint_iter(work_b)
    assert K <= killed_at < N and not (work_b / f'iter_{N}.pth').exists(), killed_at

    out = run(train_cmd(config, work_b, '--resume'), tmp_path)
    assert f'resumed epoch: 0, iter: {killed_at}' in out

    a = torch.load(work_a / f'iter_{N}.pth', map_location='cpu')  # weights_only=True
    b = torch.load(work_b / f'iter_{N}.pth', map_location='cpu')
    assert a['meta']['iter'] == b['meta']['iter'] == N
    assert a['state_dict'].keys() == b['state_dict'].keys()
    differ = [k for k in a['state_dict'] if not torch.equal(a['state_dict'][k], b['state_dict'][k])]
    assert differ == [], f'{len(differ)} tensors differ, e.g. {differ[:5]}'
    # the optimizer state and the RNG states went on identically too
    for sa, sb in zip(a['optimizer']['state'].values(), b['optimizer']['state'].values()):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(a['meta']['rng_state']['torch'], b['meta']['rng_state']['torch'])

    (rec_a,) = records(work_a)[0]
    (rec_b,) = records(work_b)[0]  # the killed run wrote none (it never reached after_run)
    resumed = rec_b['iters']
    # the model's warm-up counter (MessageHub 'iter') starts at the resumed iteration
    assert [r['iter'] for r in resumed] == list(range(killed_at + 1, N + 1))
    assert [r['hub_iter'] for r in resumed] == list(range(killed_at, N))
    by_iter = {r['iter']: r for r in rec_a['iters']}
    for r in resumed:
        assert r['img_ids'] == by_iter[r['iter']]['img_ids']
        # same augmented batch, same torch/numpy/random states before each resumed step
        assert r['rng_before'] == by_iter[r['iter']]['rng_before'], r['iter']
        assert r['losses'] == by_iter[r['iter']]['losses'], r['iter']
        assert r['se_active'] == (r['iter'] >= 4), r
    # L_se is on from iteration 4 in both runs (its value may be 0 then: an untrained
    # model may predict none of an image's tagged classes), and exactly 0 before
    assert [r['se_active'] for r in rec_a['iters']] == [i >= 4 for i in range(1, N + 1)]
    assert all(r['losses']['loss_se'] == 0 for r in rec_a['iters'] if r['iter'] < 4)
