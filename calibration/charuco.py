"""ChArUco targets: the board a user printed, and its corners found in an image.

Uses OpenCV's objdetect API of 4.7 and later (``cv2.aruco.CharucoBoard((sx, sy), …)``,
``CharucoDetector.detectBoard``, ``Board.matchImagePoints``); output shapes differ between 4.x and 5.x
(``(N, 1, k)`` against ``(N, k)``), so everything is reshaped here and nowhere else.

Board frame (OpenCV's): origin at the board's top-left outer corner, x along the squares' columns,
y along the rows (down), z into the board (away from a camera that sees it). Metres.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from rfpose.errors import ConfigError


def _cv2():
    try:
        import cv2

        cv2.aruco.CharucoDetector  # noqa: B018  (4.7+ API; missing from old or aruco-less builds)
    except (ImportError, AttributeError) as e:
        raise ConfigError("calibration needs OpenCV >= 4.7 with aruco (pip install 'opencv-python-headless>=4.9')") from e
    return cv2


@dataclass(frozen=True)
class CharucoTarget:
    """A printed ChArUco board: ``squares`` (columns, rows), square and marker edge in metres, the ArUco
    dictionary's name, and ``legacy`` for boards printed with OpenCV < 4.6's even-row layout."""

    squares: tuple[int, int] = (7, 5)
    square_m: float = 0.08
    marker_m: float = 0.06
    dictionary: str = "DICT_5X5_100"
    legacy: bool = False

    @classmethod
    def parse(cls, text: str) -> CharucoTarget:
        """``"7x5:0.08:0.06:DICT_5X5_100[:legacy]"`` (columns x rows : square m : marker m : dictionary)."""
        parts = text.split(":")
        try:
            sx, sy = (int(v) for v in parts[0].lower().split("x"))
            target = cls((sx, sy), float(parts[1]), float(parts[2]), parts[3] if len(parts) > 3 else cls.dictionary,
                         len(parts) > 4 and parts[4] == "legacy")
        except (ValueError, IndexError):
            raise ConfigError(f"ChArUco target {text!r}: expected COLSxROWS:SQUARE_M:MARKER_M[:DICTIONARY[:legacy]], "
                              "e.g. 7x5:0.08:0.06:DICT_5X5_100") from None
        if min(target.squares) < 2 or not 0 < target.marker_m < target.square_m:
            raise ConfigError(f"ChArUco target {text!r}: needs at least 2x2 squares and 0 < marker < square")
        if not hasattr(_cv2().aruco, target.dictionary):
            raise ConfigError(f"ChArUco target {text!r}: unknown ArUco dictionary {target.dictionary!r}")
        return target

    def to_dict(self) -> dict:
        d = asdict(self)
        d["squares"] = list(self.squares)
        return d

    @property
    def size_m(self) -> tuple[float, float]:
        """Outer width and height of the chequered area (m)."""
        return self.squares[0] * self.square_m, self.squares[1] * self.square_m

    def outline_m(self) -> np.ndarray:
        """The four outer corners ``(4, 3)`` in the board frame (top-left, top-right, bottom-right, bottom-left)."""
        w, h = self.size_m
        return np.array([[0, 0, 0], [w, 0, 0], [w, h, 0], [0, h, 0]], float)

    def board(self):
        return _board(self)

    def corners_m(self) -> np.ndarray:
        """Every inner chessboard corner ``(N, 3)`` in the board frame, indexed by ChArUco corner id."""
        return np.asarray(self.board().getChessboardCorners(), float).reshape(-1, 3)


@lru_cache(maxsize=8)
def _board(target: CharucoTarget):
    cv2 = _cv2()
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, target.dictionary))
    board = cv2.aruco.CharucoBoard(tuple(target.squares), target.square_m, target.marker_m, dictionary)
    if target.legacy:
        board.setLegacyPattern(True)
    return board


@lru_cache(maxsize=8)
def _detector(target: CharucoTarget):
    cv2 = _cv2()
    params = cv2.aruco.CharucoParameters()
    params.minMarkers = 2
    if hasattr(params, "checkMarkers"):  # 4.11+: drops corners whose neighbouring markers disagree
        params.checkMarkers = True
    return cv2.aruco.CharucoDetector(_board(target), params)


@dataclass
class CharucoView:
    """The board's corners in one image: ``ids`` ``(N,)``, ``image_px`` ``(N, 2)``, ``object_m`` ``(N, 3)``
    (board frame); ``frame`` is the camera stream's frame index, ``timestamp_ns`` its host time, ``capture``
    the session it came from."""

    frame: int
    timestamp_ns: int
    ids: np.ndarray
    image_px: np.ndarray
    object_m: np.ndarray
    capture: str = ""

    def __len__(self) -> int:
        return len(self.ids)


def to_gray(image: np.ndarray) -> np.ndarray:
    """An RGB ``(H, W, 3)`` or grey ``(H, W)`` uint8 image as grey."""
    if image.ndim == 2:
        return image
    return (image[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).astype(np.uint8)


def detect(image: np.ndarray, target: CharucoTarget, frame: int = -1, timestamp_ns: int = 0,
           capture: str = "") -> CharucoView:
    """The ChArUco corners OpenCV finds in ``image`` (possibly none: ``len(view) == 0``)."""
    corners, ids, _, _ = _detector(target).detectBoard(to_gray(image))
    if ids is None or len(ids) == 0:
        return CharucoView(frame, timestamp_ns, np.zeros(0, int), np.zeros((0, 2)), np.zeros((0, 3)), capture)
    ids = np.asarray(ids, int).reshape(-1)
    px = np.asarray(corners, float).reshape(-1, 2)
    return CharucoView(frame, timestamp_ns, ids, px, target.corners_m()[ids], capture)
