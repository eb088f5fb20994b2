"""The simulator's truth is for evaluation only: no calibration, label or training stage reads it."""

import re
import shutil
from pathlib import Path

import zarr
from zarr.storage import LocalStore

ROOT = Path(__file__).resolve().parents[2]
STAGES = ("calibration", "annotation", "preprocessing", "models")


def test_no_stage_mentions_sim_truth():
    offenders = []
    for stage in STAGES:
        for f in sorted((ROOT / stage).rglob("*.py")):
            text = f.read_text()
            if re.search(r"sim_truth|\.truth\(\)|ground_truth\(", text):
                offenders.append(str(f.relative_to(ROOT)))
    assert not offenders, f"stages reading the simulator's truth: {offenders}"


def test_stages_run_on_a_session_without_sim_truth(small_walk, tmp_path):
    from rfpose.annotation.groundtruth import GroundTruthDetector
    from rfpose.preprocessing.dataset import PreprocessConfig, build_dataset
    from rfpose.session import SessionReader

    s = tmp_path / "no_truth.zarr"
    shutil.copytree(small_walk, s)
    root = zarr.open_group(store=LocalStore(s), mode="r+", zarr_format=3)
    attrs = dict(root.attrs)
    del attrs["sim_truth"]
    root.attrs.clear()
    root.attrs.update(attrs)
    assert "sim_truth" not in SessionReader(s).attrs
    summary = build_dataset([str(s)], str(tmp_path / "ds.zarr"), PreprocessConfig(format="points"),
                            scheduler="synchronous", progress=False)
    assert summary
    det = GroundTruthDetector.from_session(s, "cam_left")
    cam = SessionReader(s).stream("cam_left")
    assert det.detect(cam[0].image, 0).keypoints_px.shape[-1] == 2
