"""Sensor calibration: intrinsics, LiDAR–camera, radar–LiDAR (corner reflectors), time offsets."""
