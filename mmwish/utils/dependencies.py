"""Check, before anything imports mmdet, that the OpenMMLab stack is one we support.

mmdet 3.3.0 itself asserts on mmcv's version with a bare AssertionError deep in
its import; we check first and say in one sentence what to install.
"""
from importlib import metadata

from packaging.version import Version

# (distribution, lowest supported, first unsupported, how to install it)
SUPPORTED = (
    ('mmcv', '2.0.0', '2.2.0',
     'build mmcv 2.1.0 with ops: run `bash tools/setup_env.sh` (see README, "Install")'),
    ('mmengine', '0.10.0', '1.0.0', 'run `pip install "mmengine>=0.10.0,<1.0.0"`'),
    ('mmdet', '3.3.0', '3.4.0', 'run `pip install "mmdet>=3.3.0,<3.4.0"`'),
)


class DependencyError(ImportError):
    """An unsupported or missing OpenMMLab package; the message says what to do."""


def installed_version(dist: str):
    """Version of an installed distribution, or None when it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def check_dependencies(version_of=installed_version) -> None:
    """Raise :class:`DependencyError` naming the first package outside its range.

    Args:
        version_of: maps a distribution name to its version string or None
            (injectable so that tests can fake versions).
    """
    for dist, low, high, fix in SUPPORTED:
        found = version_of(dist)
        if found is None:
            raise DependencyError(
                f'mmwish needs {dist}>={low},<{high} but {dist} is not installed: {fix}.')
        if not Version(low) <= Version(found) < Version(high):
            raise DependencyError(
                f'mmwish needs {dist}>={low},<{high} but {dist} {found} is installed: {fix}.')
