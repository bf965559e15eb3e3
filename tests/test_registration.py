"""mmwish registers into MMDetection's registries; configs inherit mmdet's."""
import importlib
import inspect
import pkgutil
import subprocess
import sys
import textwrap

from mmdet.registry import DATASETS, HOOKS, METRICS, MODELS, TASK_UTILS, TRANSFORMS
from mmengine.config import Config
from mmengine.dataset import BaseDataset
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from torch import nn

import mmwish

from .conftest import TINY_CONFIG, run_env

try:
    from mmcv.transforms import BaseTransform
except ImportError:  # pragma: no cover
    BaseTransform = None
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost


def mmwish_classes():
    for info in pkgutil.walk_packages(mmwish.__path__, 'mmwish.'):
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if obj.__module__ == info.name:
                yield obj


def test_every_component_is_registered_in_mmdet_registries():
    kinds = [(BaseDataset, DATASETS), (BaseTransform, TRANSFORMS), (BaseMetric, METRICS),
             (Hook, HOOKS), (BaseMatchCost, TASK_UTILS), (nn.Module, None)]
    components = 0
    for cls in mmwish_classes():
        for base, registry in kinds:
            if base is not None and issubclass(cls, base):
                registries = [registry] if registry else [MODELS, TASK_UTILS]
                assert any(r.get(cls.__name__) is cls for r in registries), \
                    f'{cls.__module__}.{cls.__name__} is not registered'
                components += 1
    assert components >= 10
    assert DATASETS.get('ShapesDataset') is mmwish.datasets.ShapesDataset


def test_tiny_config_inherits_mmdet_and_builds():
    cfg = Config.fromfile(TINY_CONFIG)
    assert cfg.default_scope == 'mmdet'
    assert cfg.custom_imports.imports == ['mmwish']
    assert cfg.model.type == 'Mask2Former'
    # inherited unchanged from mmdet's recipe
    assert cfg.model.panoptic_head.type == 'Mask2FormerHead'
    assert cfg.model.train_cfg.assigner.type == 'HungarianAssigner'
    assert cfg.optim_wrapper.clip_grad.max_norm == 0.01
    init_default_scope('mmdet')
    model = MODELS.build(cfg.model)
    assert model.backbone.depth == 18
    assert model.panoptic_head.num_queries == 20
    assert model.panoptic_head.num_classes == 6
    assert sum(p.numel() for p in model.parameters()) < 20e6


def test_existing_mmdet_config_gains_mmwish_by_custom_imports(shapes_root, tmp_path):
    """A plain mmdet config (no mmwish import in the process) reaches
    ``type='ShapesDataset'`` through ``custom_imports`` alone."""
    cfg_file = tmp_path / 'user_cfg.py'
    cfg_file.write_text(textwrap.dedent(f"""
        _base_ = ['mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py']
        custom_imports = dict(imports=['mmwish'], allow_failed_imports=False)
        train_dataloader = dict(dataset=dict(
            type='ShapesDataset', data_root='{shapes_root}/data/shapes/',
            ann_file='annotations/instances_train.json', data_prefix=dict(img='images/')))
        """))
    code = textwrap.dedent(f"""
        import sys
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        assert 'mmwish' not in sys.modules
        cfg = Config.fromfile({str(cfg_file)!r})
        from mmdet.registry import DATASETS
        init_default_scope(cfg.default_scope)
        ds = DATASETS.build(cfg.train_dataloader.dataset)
        print(type(ds).__module__, len(ds), ds.metainfo['classes'][0])
        """)
    proc = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path), env=run_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[-1].split() == ['mmwish.datasets.shapes', '12', 'circle']
