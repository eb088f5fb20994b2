"""Moved to :mod:`rfpose.dataset.spec` (the dataset–model contract is core); kept as an alias."""

from rfpose.dataset.format import HUPR_FORMAT, RTPOSE_FORMAT  # noqa: F401
from rfpose.dataset.spec import (RTPOSE_GRID, InputSpec, SpecMismatchError, VoxelGrid, check_spec,  # noqa: F401
                                 spec_differences, spec_from_attrs)
