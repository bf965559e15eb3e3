#!/usr/bin/env python
"""Packaging for mmwish.

Besides the Python package, ``configs/`` and ``tools/`` ship inside it as
``mmwish/.mim/{configs,tools}`` so that ``mim train mmwish CONFIG`` finds them:
copied into wheels and sdists, symlinked by ``setup.py develop``, and as
forwarders to the checkout for PEP 660 editable installs (``pip install -e .``).
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup
from setuptools.command.editable_wheel import editable_wheel

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

    ``develop`` gets symlinks, so edits show at once; building a wheel or sdist
    gets copies. PEP 660 editable installs are handled by :class:`EditableWheel`.
    """
    if 'develop' in sys.argv:
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


def mim_forwarder(path):
    """Text of a file in an editable install's ``mmwish/.mim`` that stands for
    ``path`` in the checkout, so that edits there take effect at once."""
    rel = osp.relpath(path, ROOT).replace(os.sep, '/')
    head = f'# mmwish editable install: forwards to {rel} of the checkout\n'
    if path.endswith('.py') and rel.startswith('configs/'):
        return head + f'_base_ = [{path!r}]\n'
    if path.endswith('.py'):
        return head + (f'import runpy, sys\nsys.argv[0] = {path!r}\n'
                       f"runpy.run_path({path!r}, run_name='__main__')\n")
    if path.endswith('.sh'):
        return f'#!/usr/bin/env bash\n{head}exec bash {path!r} "$@"\n'
    with open(path) as f:
        return f.read()


class _MimForwarders:
    """Wraps setuptools' editable strategy and adds ``mmwish/.mim`` forwarders."""

    def __init__(self, strategy):
        self.strategy = strategy

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc):
        return self.strategy.__exit__(*exc)

    def __call__(self, wheel, files, mapping):
        self.strategy(wheel, files, mapping)
        for name in MIM_FILES:
            for folder, dirs, names in os.walk(osp.join(ROOT, name)):
                dirs[:] = [d for d in dirs if d != '__pycache__']
                for fname in sorted(names):
                    if fname.endswith('.pyc'):
                        continue
                    path = osp.join(folder, fname)
                    arcname = 'mmwish/.mim/' + osp.relpath(path, ROOT).replace(os.sep, '/')
                    wheel.writestr(arcname, mim_forwarder(path))


class EditableWheel(editable_wheel):
    """``pip install -e .`` that ``mim`` understands.

    mim 0.3.9 looks for configs and tools under ``<dist location>/mmwish/.mim``,
    i.e. in site-packages, where a PEP 660 editable install puts no mmwish
    folder. This one adds ``site-packages/mmwish/.mim`` holding forwarders to
    the checkout's files. With ``package_dir={'': '.'}`` setuptools makes the
    checkout importable by a plain ``.pth`` path entry, so the regular package
    there takes precedence over that ``__init__``-less folder.
    """

    def _select_strategy(self, name, tag, build_lib):
        return _MimForwarders(super()._select_strategy(name, tag, build_lib))


if __name__ == '__main__':
    add_mim_extension()
    photos = read_requirements('photos')
    tests = read_requirements('tests') + photos
    mim = read_requirements('mim')
    setup(
        name='mmwish',
        version=read_version(),
        description='WISH: weakly supervised instance segmentation from '
        'heterogeneous labels, as an MMDetection 3.x plugin',
        long_description=open(osp.join(ROOT, 'README.md')).read(),
        long_description_content_type='text/markdown',
        python_requires='>=3.9',
        package_dir={'': '.'},
        packages=find_packages(include=['mmwish', 'mmwish.*']),
        include_package_data=True,
        package_data={'mmwish': ['.mim/configs/**/*', '.mim/tools/**/*']},
        install_requires=read_requirements('runtime'),
        extras_require={
            'mim': read_requirements('mminstall'),
            'tests': tests,
            'openmim': mim,
            'photos': photos,
            'all': read_requirements('mminstall') + tests + mim,
        },
        entry_points={
            'console_scripts': [
                'mmwish-shapes=mmwish.datasets.synthetic_shapes:main',
            ],
        },
        cmdclass={'editable_wheel': EditableWheel},
        zip_safe=False,
    )
