"""Auto-annotation: 2D pose detectors, lifting to 3D with LiDAR, triangulation, smoothing.

So far: :mod:`rfpose.annotation.detectors` (registry: ``mediapipe``, ``groundtruth``) and
:mod:`rfpose.annotation.simeval` (detection rate and pixel error on simulated renders). docs/annotation.md.
"""
