# Only the dependency check here: it must run before anything imports
# mmengine or mmdet (see mmwish/__init__.py).
from .dependencies import DependencyError, check_dependencies

__all__ = ['DependencyError', 'check_dependencies']
