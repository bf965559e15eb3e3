#!/usr/bin/env python
"""Packaging for mmwish.

Besides the Python package, ``configs/`` and ``tools/`` ship inside it as
``mmwish/.mim/{configs,tools}`` so that ``mim train mmwish CONFIG`` finds them:
symlinked for an editable install, copied for a wheel or sdist.
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools')


def read_version():
    scope = {}
    with open(osp.join(ROOT, 'mmwish', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def read_requirements(name):
    """Requirement lines of ``requirements/<name>.txt`` (comments dropped)."""
    lines = []
    with open(osp.join(ROOT, 'requirements', f'{name}.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                lines.append(line)
    return lines


def add_mim_extension():
    """Make ``mmwish/.mim`` hold configs and tools.

    Editable installs (``develop`` or PEP 660's ``editable_wheel``) get
    symlinks, so edits show at once; building a wheel or sdist gets copies.
    """
    if {'develop', 'editable_wheel'} & set(sys.argv):
        mode = 'symlink'
    elif {'sdist', 'bdist_wheel', 'build', 'build_py'} & set(sys.argv):
        mode = 'copy'
    else:
        return
    mim_dir = osp.join(ROOT, 'mmwish', '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(ROOT, name)
        dst = osp.join(mim_dir, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_dir), dst, target_is_directory=True)
        else:
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


if __name__ == '__main__':
    add_mim_extension()
    tests = read_requirements('tests')
    mim = read_requirements('mim')
    setup(
        name='mmwish',
        version=read_version(),
        description='WISH: weakly supervised instance segmentation from '
        'heterogeneous labels, as an MMDetection 3.x plugin',
        long_description=open(osp.join(ROOT, 'README.md')).read(),
        long_description_content_type='text/markdown',
        python_requires='>=3.9',
        packages=find_packages(include=['mmwish', 'mmwish.*']),
        include_package_data=True,
        package_data={'mmwish': ['.mim/configs/**/*', '.mim/tools/**/*']},
        install_requires=read_requirements('runtime'),
        extras_require={
            'mim': read_requirements('mminstall'),
            'tests': tests,
            'openmim': mim,
            'all': read_requirements('mminstall') + tests + mim,
        },
        entry_points={
            'console_scripts': [
                'mmwish-shapes=mmwish.datasets.synthetic_shapes:main',
            ],
        },
        zip_safe=False,
    )
