"""Pose networks (HRRadarPose, HuPR), registry, training, evaluation, export."""
