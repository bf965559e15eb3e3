"""Resume torch's random streams with the weights, so a resumed run equals an
uninterrupted one in deterministic mode."""
import torch
from mmdet.registry import HOOKS
from mmengine import dist
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save each rank's torch RNG states (CPU and CUDA) in every checkpoint and restore
    them when training resumes (``--resume``), not when it only loads weights
    (``load_from``).

    MMEngine seeds every run again from ``randomness.seed``, so without this a resumed
    run draws from the start of torch's stream, not where the killed run stopped:
    Mask2Former's matching points, its importance-sampled loss points and any dropout
    then differ, and so do the weights. numpy and ``random`` need no saving: in the
    training process they feed only the data pipeline, and MMEngine's resume replays
    the data loader up to the resumed iteration, which draws them exactly as the
    killed run did (data-loader workers are reseeded from the seed anyway).

    WISH builds its frozen SAM teacher on the first training step, and building a SAM
    draws its (then overwritten) initial weights from torch's stream. An uninterrupted
    run drew them before its checkpoints; a resumed run would draw them after the
    restore and shift the stream. So the hook builds the teacher first, then restores.

    The states are stored under ``checkpoint['meta']['rng_state']`` as uint8 tensors
    (one row per rank), so the checkpoint still loads with ``weights_only=True``.
    With another number of ranks than the checkpoint's, the states are not restored
    (a warning says so): the run stays correct, not bit-identical.
    """

    # before CheckpointHook (VERY_LOW) in after_train_iter/epoch, so the states are
    # gathered on every rank before rank 0 alone saves (Runner.save_checkpoint is
    # master_only: a collective inside before_save_checkpoint would hang)
    priority = 'LOW'

    def __init__(self):
        self._gathered = None

    def _gather(self) -> dict:
        state = dict(torch=torch.stack(dist.all_gather(torch.get_rng_state())))
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            # a CPU tensor: mmengine's all_gather moves it to the backend's device and back
            state['cuda'] = torch.stack(dist.all_gather(torch.cuda.get_rng_state()))
        state['world_size'] = dist.get_world_size()
        return state

    @staticmethod
    def _will_save(runner, hook_self, by_epoch: bool) -> bool:
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and hook.by_epoch == by_epoch \
                    and hook.interval > 0:
                if by_epoch:
                    return hook_self.every_n_epochs(runner, hook.interval) or (
                        hook.save_last and hook_self.is_last_train_epoch(runner))
                return hook_self.every_n_train_iters(runner, hook.interval) or (
                    hook.save_last and hook_self.is_last_train_iter(runner))
        return False

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._will_save(runner, self, by_epoch=False):
            self._gathered = self._gather()  # every rank takes part

    def after_train_epoch(self, runner) -> None:
        if self._will_save(runner, self, by_epoch=True):
            self._gathered = self._gather()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # rank 0 only; without a gathered state (a save outside the schedule) one process
        # can still record its own
        state = self._gathered
        if state is None and dist.get_world_size() == 1:
            state = self._gather()
        self._gathered = None
        if state is not None:
            checkpoint.setdefault('meta', {})['rng_state'] = state

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # load_from: new training, keep the fresh seed
        state = checkpoint.get('meta', {}).get('rng_state')
        if state is None:
            print_log('RNGStateHook: the checkpoint holds no RNG states (saved without this '
                      'hook); the resumed run draws new random numbers', logger='current',
                      level=30)
            return
        rank, world_size = dist.get_rank(), dist.get_world_size()
        if state.get('world_size') != world_size:
            print_log(f"RNGStateHook: the checkpoint's RNG states are of "
                      f"{state.get('world_size')} ranks, this run has {world_size}; they are "
                      'not restored', logger='current', level=30)
            return
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if getattr(model, 'teacher_cfg', None):
            model.teacher  # noqa: B018 (built lazily; see the class docstring)
        torch.set_rng_state(state['torch'][rank].clone())
        if 'cuda' in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state['cuda'][rank].clone())
