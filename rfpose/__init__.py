"""rfpose: human pose estimation from mmWave radar.

Core types live here (radar configuration, boards, skeletons, the session format, the ``Source``
interface, errors); stages are the subpackages ``rfpose.drivers``, ``rfpose.preprocessing``,
``rfpose.calibration``, ``rfpose.annotation`` and ``rfpose.models``.
"""

from rfpose.errors import RfposeError

__version__ = "0.1.0"
__all__ = ["RfposeError", "__version__"]
