"""DATASET.zarr, the contract between preprocessing and models (core: imports no stage).

- :mod:`~rfpose.dataset.format` — format constants (versions, formats, tensor arrays, float16 storage).
- :mod:`~rfpose.dataset.preprocess_config` — :class:`PreprocessConfig`, the typed preprocessing config a
  dataset records, and the voxel-grid defaults (:data:`RTPOSE_ROI`).
- :mod:`~rfpose.dataset.spec` — :class:`InputSpec` (what a model takes), :class:`VoxelGrid`, :func:`check_spec`.
- :mod:`~rfpose.dataset.writer` — :class:`DatasetWriter` (the one writer) and :class:`SampleTable`.
- :mod:`~rfpose.dataset.reader` — :class:`DatasetReader` (the one reader: random access, windows, cache).

The processor that rebuilds a dataset's preprocessing from its config is a stage's job:
``rfpose.preprocessing.factory.build_processor``.
"""

from rfpose.dataset.format import (DATASET_FORMAT_VERSION, FLOAT16_MAX, FORMATS, HUPR_ELEVATION_MEAN_NOTE,
                                   HUPR_FORMAT, POINTS_FORMAT, POINTS_INTENSITY_FORMAT, RTPOSE_FORMAT, SPLIT_NAMES,
                                   SPLITS, TENSOR_ARRAYS, TENSOR_FORMAT, to_float16)
from rfpose.dataset.preprocess_config import DEFAULT_LABELS, RTPOSE_ROI, CartesianGrid, PreprocessConfig
from rfpose.dataset.reader import DatasetReader, dataset_spec, open_dataset, session_windows
from rfpose.dataset.spec import (RTPOSE_GRID, InputSpec, SpecMismatchError, VoxelGrid, check_spec,
                                 spec_differences, spec_from_attrs)
from rfpose.dataset.writer import DatasetWriter, SampleTable, jsonable

__all__ = [
    "DATASET_FORMAT_VERSION", "FLOAT16_MAX", "FORMATS", "HUPR_ELEVATION_MEAN_NOTE", "HUPR_FORMAT", "POINTS_FORMAT",
    "POINTS_INTENSITY_FORMAT", "RTPOSE_FORMAT", "SPLIT_NAMES", "SPLITS", "TENSOR_ARRAYS", "TENSOR_FORMAT", "to_float16",
    "DEFAULT_LABELS", "RTPOSE_ROI", "CartesianGrid", "PreprocessConfig",
    "DatasetReader", "dataset_spec", "open_dataset", "session_windows",
    "RTPOSE_GRID", "InputSpec", "SpecMismatchError", "VoxelGrid", "check_spec", "spec_differences",
    "spec_from_attrs", "DatasetWriter", "SampleTable", "jsonable",
]
