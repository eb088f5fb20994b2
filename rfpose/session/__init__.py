"""The session format: one zarr v3 group per recording (layout and commit protocol in docs/session-format.md).

``SessionWriter`` records radar (raw ADC), LiDAR, camera and radar point-cloud streams and label sets,
crash-safe while appending; ``SessionReader`` / ``open_session`` read them back with random access by
frame index and by time; each stream is a seekable :class:`rfpose.source.SourceBase` (the session-replay
source).
"""

from rfpose.session.layout import FORMAT_VERSION
from rfpose.session.reader import (CameraStream, LabelSet, LidarStream, PointsStream, RadarStream, SessionReader,
                                   SessionStream, open_session)
from rfpose.session.writer import SessionWriter, add_label_set, expected_radar_frame_shape

__all__ = ["FORMAT_VERSION", "SessionWriter", "SessionReader", "open_session", "SessionStream", "RadarStream",
           "LidarStream", "CameraStream", "PointsStream", "LabelSet", "expected_radar_frame_shape", "add_label_set"]
