from .formatting import PackWeakDetInputs
from .loading import LoadWeakAnnotations
from .weak_labels import ProjectWeakLabels, project_points

__all__ = ['LoadWeakAnnotations', 'PackWeakDetInputs', 'ProjectWeakLabels', 'project_points']
