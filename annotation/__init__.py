"""Auto-annotation: 2D pose detectors, lifting to 3D with LiDAR, triangulation, smoothing."""
