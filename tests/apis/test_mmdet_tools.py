import os.path as osp

import pytest
import torch

from mmwish.apis.mmdet_tools import check_amp, find_mmdet_tool, init_cpu_distributed, launcher_of


def test_finds_mmdets_own_tools():
    for name in ('train.py', 'test.py'):
        path = find_mmdet_tool(name)
        assert osp.isfile(path) and path.endswith(osp.join('tools', name))
        assert 'def parse_args' in open(path).read()
    with pytest.raises(FileNotFoundError, match='tools/nope.py'):
        find_mmdet_tool('nope.py')


@pytest.mark.parametrize('argv,expected', [
    (['train.py', 'cfg.py'], 'none'),
    (['train.py', 'cfg.py', '--launcher', 'pytorch'], 'pytorch'),
    (['train.py', 'cfg.py', '--launcher=slurm', '--amp'], 'slurm'),
    (['train.py', 'cfg.py', '--launcher'], 'none'),
])
def test_launcher_of(argv, expected):
    assert launcher_of(argv) == expected


def test_no_process_group_without_pytorch_launcher():
    assert init_cpu_distributed(['train.py', 'cfg.py']) is False
    assert not torch.distributed.is_initialized()


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU refusal')
def test_amp_on_cpu_is_refused_in_one_line():
    check_amp(['train.py', 'cfg.py'])
    with pytest.raises(SystemExit, match='^error: --amp needs a GPU'):
        check_amp(['train.py', 'cfg.py', '--amp'])
