"""The one exception tree of rfpose.

Every error a user can cause derives from :class:`RfposeError`; the CLI prints it as one line and exits
non-zero. Messages name what and where (file:line, packet sequence number, frame index).
"""

from __future__ import annotations


class RfposeError(Exception):
    """Root of every error rfpose raises on purpose. ``exit_code`` is what the CLI exits with."""

    exit_code = 2


class ConfigError(RfposeError):
    """A radar .cfg, rig file or stage config is malformed or inconsistent.

    ``path`` and ``line`` (1-based) locate the problem when it comes from a file.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path, self.line, self.reason = path, line, message
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(where + message)


class SourceMismatchError(ConfigError):
    """A trained run cannot take what a source gives: a tensor model on a point-cloud source, a points model
    trained on one kind of points fed another (rfpose's CFAR points from raw ADC vs a device's points), or
    points without the fields the model reads. ``needs`` and ``gives`` say what the run needs and what the
    source gives."""

    def __init__(self, message: str, needs: str, gives: str, path: str | None = None):
        self.needs, self.gives = needs, gives
        super().__init__(message, path)


class IncompatibleRunError(ConfigError):
    """A trained run cannot serve where it is asked to: for example a 2-D model (image-plane skeletons in
    label-image pixels, the HuPR family) where 3-D room coordinates are needed (the room monitor)."""


class UnknownNameError(RfposeError, KeyError):
    """A name looked up in a registry (board, model, scenario, skeleton …) does not exist."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]):
        self.kind, self.name, self.valid = kind, name, sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; valid: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class FormatError(RfposeError):
    """A file on disk (session, dataset, adc_data.bin, checkpoint) is malformed, truncated or of an unknown version."""


class ParseError(RfposeError):
    """Bytes from a device or a file do not follow the wire format."""


class DeviceError(RfposeError):
    """A device answered wrongly or could not be opened."""


class DeviceTimeout(DeviceError):
    """A device stopped answering within the allowed time."""


class ShapeError(RfposeError, ValueError):
    """An array has the wrong shape or dtype for the stage it is given to."""


class CalibrationError(RfposeError):
    """A calibration cannot be computed, read or applied; the message names the capture, frame or field."""


class CalibrationFileError(CalibrationError, FormatError):
    """A calibration JSON file (``rfpose_calibration``) is malformed: ``field`` is the dotted path of the bad entry."""

    def __init__(self, message: str, path: str | None = None, field: str | None = None):
        self.path, self.field, self.reason = path, field, message
        where = ": ".join(x for x in (path, field) if x)
        super().__init__(f"{where}: {message}" if where else message)


class TargetNotFoundError(CalibrationError):
    """A calibration target (ChArUco board, corner reflector, moving person) was not found in a capture/frame."""


class DegenerateCalibrationError(CalibrationError):
    """The captures leave a degree of freedom undetermined; the message says what to add to the captures."""


class CorrespondenceError(CalibrationError):
    """Detections cannot be matched across sensors or captures (ambiguous, mismatched sessions, missing stream)."""


class CorruptDataError(FormatError):
    """Stored data fails its integrity check (a missing, truncated or altered chunk); raised where the
    caller asked for a frame's data strictly, otherwise the frame is counted and read as lost."""


class PartialRecording(RfposeError):
    """A recording ended early because a device failed or vanished; everything received before is
    committed and readable. The CLI exits with 3 (not 2: the output exists and is valid, but short)."""

    exit_code = 3


class DependencyError(RfposeError):
    """A program the command needs is not installed (the message says how to install it)."""
