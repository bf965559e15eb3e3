from .formatting import PackWeakDetInputs
from .loading import LoadWeakAnnotations
from .weak_labels import FilterWeakAnnotations, ProjectWeakLabels, project_points

__all__ = ['FilterWeakAnnotations', 'LoadWeakAnnotations', 'PackWeakDetInputs',
           'ProjectWeakLabels', 'project_points']
