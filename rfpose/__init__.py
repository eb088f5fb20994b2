"""rfpose: human pose estimation from mmWave radar.

Core types live here (radar configuration, boards, skeletons, the session format, the ``Source``
lifecycle and its fan-out, errors, the simulator); stages are the subpackages ``rfpose.drivers``,
``rfpose.preprocessing``, ``rfpose.calibration``, ``rfpose.annotation`` and ``rfpose.models``; the
application layer is ``rfpose.app`` and ``rfpose.cli``. Who may import whom: docs/architecture.md.
"""

from rfpose.errors import RfposeError

__version__ = "0.1.0"
__all__ = ["RfposeError", "__version__"]
