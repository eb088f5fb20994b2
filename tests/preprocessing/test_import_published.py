"""Importers of the published RT-Pose and HuPR datasets: tiny trees written in exactly the published layouts
(file names, JSON structure, dtypes; cube sizes small except where a test uses the real shape), imported,
labels compared with the written ones after the documented conversion, and one training step."""

import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rfpose.cli import main
from rfpose.dataset import DatasetReader
from rfpose.errors import FormatError, ShapeError
from rfpose.models.registry import model_entry
from rfpose.models.synthetic import STANDING
from rfpose.models.train import TrainConfig, train
from rfpose.preprocessing import import_hupr as ih
from rfpose.preprocessing import import_rtpose as ir

# small RT-Pose cubes: (Z, Y, X) with a crop of 8 × 16 × 32 voxels (the model's smallest sensible input)
CUBE = (24, 48, 64)
ROI = ((13, 21), (32, 48), (17, 49))
MAP = (16, 16, 16, 4)  # small HuPR maps (Doppler, range, azimuth, elevation)
# RT-Pose's hr3d.py order (left arm at 9-11) as indices into rtpose15 (= Keypoints_meta.txt order)
CONFIG_ORDER = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 9, 10, 11]
META = ["Pelvis", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Thomx", "Head", "R_Shoulder",
        "R_Elbow", "R_Wrist", "L_Shoulder", "L_Elbow", "L_Wrist"]


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


def _tiny(model):
    """The model's tiny overrides without the input shape: the model takes the imported dataset's shape."""
    return {k: v for k, v in model_entry(model).tiny_overrides.items() if k not in ("input_shape", "num_doppler")}


def _pose(rng, k):
    """A standing person (rtpose15, radar frame) inside the small ROI: x 0.8-2.2, y −5.0 to −2.7 m."""
    return STANDING * rng.uniform(0.9, 1.1) + np.array([1.5, -3.8, 0.2 + 0.01 * k], np.float32)


def write_rtpose_tree(root, rng, *, variant="f16", names="file_meta.txt", test=True, order="meta", cube=CUBE,
                      frames=(0, 1, 2, 3), sequences=("1", "2")):
    """RT-Pose's published layout; returns {(seq, radar frame): (15, 3) pose in rtpose15} and the cubes."""
    seq_names = {s: f"2023_1010_12{i:02d}" for i, s in enumerate(sequences)}
    if names == "file_meta.txt":
        (root / "file_meta.txt").write_text("id,name\n" + "".join(f"{s},{n}\n" for s, n in seq_names.items()))
    elif names == "filemeta.json":
        (root / "filemeta.json").write_text(json.dumps(seq_names))
    (root / "Keypoints_meta.txt").write_text("".join(f"{i}: {n}\n" for i, n in enumerate(META)))
    truth, cubes, train_doc, test_doc = {}, {}, {}, {}
    for s in sequences:
        d = root / seq_names[s] / ("DZYX_npy_f16" if variant == "f16" else "radar/npy_DZYX_complex")
        d.mkdir(parents=True)
        for f in frames:
            if variant == "f16":
                c = rng.uniform(-0.5, 20.0, (32, *cube)).astype(np.float16)
            else:
                c = (rng.normal(0, 3e8, (64, *cube)) + 1j * rng.normal(0, 3e8, (64, *cube))).astype(np.complex64)
            np.save(d / f"{f:06d}.npy", c)
            cubes[(s, f)] = c
            pose = _pose(rng, f)
            truth[(s, f)] = pose
            written = pose[CONFIG_ORDER] if order == "config" else pose
            doc = test_doc if (test and f == frames[-1]) else train_doc
            # camera frame numbers differ from radar frame ids; each label names its radar frame
            doc.setdefault(s, {})[str(3 * f + 7)] = [{"Radar_frameID": f, "pose": written.tolist()}]
    (root / "Train.json").write_text(json.dumps(train_doc))
    if test:
        (root / "Test.json").write_text(json.dumps(test_doc))
    return truth, cubes


def _rows(reader):
    sess = reader.root.attrs["sessions"]
    si, fi = reader.session_index, reader.frame_index
    return [(sess[si[i]]["sequence_id"], int(fi[i])) for i in range(len(reader))]


def test_rtpose_f16_round_trip_and_one_training_step(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "rtpose"
    src.mkdir()
    truth, cubes = write_rtpose_tree(src, rng)
    res = ir.import_rtpose(src, tmp_path / "rt.zarr", cube_zyx=CUBE, roi=ROI)
    assert res.frames == 8 and res.splits == {"train": 6, "val": 0, "test": 2} and res.sequences == 2
    r = DatasetReader(tmp_path / "rt.zarr")
    assert r.spec.shape == (32, 8, 16, 32) and r.spec.skeleton == "rtpose15"
    assert r.spec.grid.roi_min_m == pytest.approx((-5.8 + 13 * 0.3625, -10.05 + 32 * 20.1 / 128, 17 * 11.6 / 256))
    joints, split = r.labels("joints"), r.split
    for i, (seq, f) in enumerate(_rows(r)):
        np.testing.assert_array_equal(joints[i, 0], truth[(seq, f)])
        assert split[i] == (2 if f == 3 else 0)
        (z0, z1), (y0, y1), (x0, x1) = ROI
        want = np.maximum(cubes[(seq, f)][:, z0:z1, y0:y1, x0:x1].astype(np.float32) / 10, 0).astype(np.float16)
        np.testing.assert_array_equal(r.read("x", np.array([i]))[0], want)
    cfg = r.root.attrs["config"]["import"]
    assert cfg["source"] == "rtpose" and cfg["radar_files"] == ["DZYX_npy_f16"] and cfg["label_files"] == [
        "Train.json", "Test.json"] and "Keypoints_meta" in cfg["keypoint_order"]
    # one step of the registered deployment model, tiny
    result = train(TrainConfig(model="hrradarpose-lite", data=str(tmp_path / "rt.zarr"), out=str(tmp_path / "run"),
                               epochs=1, batch_size=2, limit_train=2, limit_val=1,
                               model_overrides=_tiny("hrradarpose-lite")))
    assert np.isfinite(result["history"][0]["train_loss"])


def test_rtpose_complex_variant_filemeta_json_and_missing_test(tmp_path):
    """The released complex cubes go through the cache's scaling; HF's filemeta.json; no Test.json → a note."""
    rng = np.random.default_rng(1)
    src = tmp_path / "rtpose"
    src.mkdir()
    truth, cubes = write_rtpose_tree(src, rng, variant="complex", names="filemeta.json", test=False, frames=(0, 1),
                                     sequences=("7",))
    res = ir.import_rtpose(src, tmp_path / "rt.zarr", cube_zyx=CUBE, roi=ROI)
    assert res.splits == {"train": 2, "val": 0, "test": 0}
    assert any("Test.json missing" in n for n in res.notes)
    r = DatasetReader(tmp_path / "rt.zarr")
    (z0, z1), (y0, y1), (x0, x1) = ROI
    for i, key in enumerate(_rows(r)):
        c = cubes[key]
        # independent computation of RT-Pose's chain on the full cube (float32 |x| of complex64, as its
        # script): cache (float16) → loader → crop
        mag = np.abs(c)
        cache = np.clip((np.maximum(mag[0::2], mag[1::2]) - 1) / (1e8 - 1), 0, None).astype(np.float16)
        want = np.clip(cache.astype(np.float32) / 10, 0, None)[:, z0:z1, y0:y1, x0:x1].astype(np.float16)
        np.testing.assert_array_equal(r.read("x", np.array([i]))[0], want)
        np.testing.assert_array_equal(r.labels("joints")[i, 0], truth[key])
    assert r.root.attrs["config"]["import"]["radar_files"] == ["npy_DZYX_complex"]


def test_rtpose_config_order_is_detected_and_swapped(tmp_path):
    """Labels written in hr3d.py's order (left arm at 9-11) without Keypoints_meta.txt: auto swaps the arms."""
    rng = np.random.default_rng(2)
    src = tmp_path / "rtpose"
    src.mkdir()
    truth, _ = write_rtpose_tree(src, rng, order="config", frames=(0, 1))
    (src / "Keypoints_meta.txt").unlink()
    res = ir.import_rtpose(src, tmp_path / "rt.zarr", cube_zyx=CUBE, roi=ROI)
    assert "arms swapped" in res.details['keypoint_order']
    r = DatasetReader(tmp_path / "rt.zarr")
    for i, key in enumerate(_rows(r)):
        np.testing.assert_array_equal(r.labels("joints")[i, 0], truth[key])
    # named explicitly, the order is applied without a swap check changing it
    res = ir.import_rtpose(src, tmp_path / "rt2.zarr", keypoint_order="config", cube_zyx=CUBE, roi=ROI)
    assert res.details['keypoint_order'].startswith("config") and not any("keypoint order" in n for n in res.notes)
    np.testing.assert_array_equal(DatasetReader(tmp_path / "rt2.zarr").labels("joints"), r.labels("joints"))


def test_rtpose_cli_real_shape_and_val_sequences(tmp_path, capsys):
    """One real-size float16 frame per sequence (64 MiB each) through the CLI, with RT-Pose's own ROI."""
    rng = np.random.default_rng(3)
    src = tmp_path / "rtpose"
    src.mkdir()
    truth, _ = write_rtpose_tree(src, rng, cube=ir.CUBE_ZYX, frames=(5,), test=False)
    out = tmp_path / "rt.zarr"
    assert main(["import", "rtpose", str(src), "--out", str(out), "--val-sequences", "2"]) == 0
    assert "2 labelled frames from 2 sequences (train 1, val 1, test 0)" in capsys.readouterr().out
    r = DatasetReader(out)
    assert r.spec.shape == (32, 16, 64, 160)
    assert r.spec.grid.roi_min_m == pytest.approx((-1.0875, -5.025, 0.7703), abs=1e-3)
    for i, key in enumerate(_rows(r)):
        np.testing.assert_array_equal(r.labels("joints")[i, 0], truth[key])
    assert main(["import", "rtpose", str(src), "--out", str(out)]) == 2  # exists, no --force
    assert "output exists" in capsys.readouterr().err


@pytest.mark.parametrize("damage, message", [
    (lambda s: (s / "Train.json").unlink(), "Train.json: missing"),
    (lambda s: (s / "Train.json").write_text("{\"1\": {\"7\": [{\"Radar_frameID\": 0, "), "Train.json:1: malformed JSON"),
    (lambda s: (s / "Train.json").write_text(json.dumps({"1": {"7": [{"Radar_frameID": 0, "pose": [[0, 0, 0]] * 14}]}})),
     "sequence 1 frame 7 person 0: field 'pose' has shape (14, 3)"),
    (lambda s: (s / "Train.json").write_text(json.dumps({"1": {"7": [{"pose": [[0, 0, 0]] * 15}]}})),
     "needs fields 'Radar_frameID' and 'pose'"),
    (lambda s: (s / "file_meta.txt").write_text("id,name\n1\n"), "file_meta.txt:2: expected 'id,name'"),
    (lambda s: np.save(s / "2023_1010_1200/DZYX_npy_f16/000000.npy", np.zeros((32, 24, 48, 63), np.float16)),
     "000000.npy: float16 (32, 24, 48, 63), expected float16 (32, 24, 48, 64)"),
    (lambda s: (s / "2023_1010_1200/DZYX_npy_f16/000000.npy").write_bytes(b"not numpy"), "not a readable .npy"),
])
def test_rtpose_bad_input_is_one_typed_line(tmp_path, capsys, damage, message):
    src = tmp_path / "rtpose"
    src.mkdir()
    write_rtpose_tree(src, np.random.default_rng(4), frames=(0, 1), sequences=("1",))
    damage(src)
    with pytest.raises((FormatError, ShapeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        ir.import_rtpose(src, tmp_path / "rt.zarr", cube_zyx=CUBE, roi=ROI)


def test_rtpose_cli_error_is_one_line(tmp_path, capsys):
    assert main(["import", "rtpose", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o.zarr")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nowhere: not a directory" in err and len(err.splitlines()) == 1 and "Traceback" not in err


# -- HuPR ----------------------------------------------------------------------------------------------
def write_hupr_tree(root, rng, splits, frames, *, map_shape=MAP, missing_vert=()):
    """HuPR's published layout; returns {(seq, frame): (14, 2) joints} and {(view, seq, frame): map}."""
    truth, maps = {}, {}
    for split, ids in splits.items():
        entries = []
        for seq in ids:
            if seq not in frames:
                entries.append([])
                continue
            block = []
            for f in frames[seq]:
                for view in ih.VIEWS:
                    if view == "vert" and (seq, f) in missing_vert:
                        continue
                    d = root / f"single_{seq}" / view
                    d.mkdir(parents=True, exist_ok=True)
                    m = (rng.normal(0, 5e4, map_shape) + 1j * rng.normal(0, 5e4, map_shape)).astype(np.complex128)
                    np.save(d / f"{f:09d}.npy", m)
                    maps[(view, seq, f)] = m
                joints = rng.uniform(20, 236, (14, 2)).round(2)
                truth[(seq, f)] = joints.astype(np.float32)
                block.append({"image": f"{f:09d}.jpg", "joints": joints.tolist(),
                              "bbox": [float(joints[:, 0].min()), float(joints[:, 1].min()),
                                       float(joints[:, 0].max()), float(joints[:, 1].max())]})
            entries.append(block)
        (root / f"hrnet_annot_{split}.json").write_text(json.dumps(entries))
    return truth, maps


def test_hupr_round_trip_and_one_training_step(tmp_path):
    rng = np.random.default_rng(5)
    src = tmp_path / "hupr"
    src.mkdir()
    splits = {"train": [4, 2], "val": [9], "test": [3]}
    frames = {2: range(5), 4: range(595, 603), 9: range(3), 3: range(3)}  # sequence 4 runs past HuPR's 600
    truth, maps = write_hupr_tree(src, rng, splits, frames, missing_vert={(3, 2)})
    (src / "cfg.yaml").write_text("DATASET:\n  duration: 600\n  trainName: [4, 2]\n  valName: [9]\n  testName: [3]\n")
    res = ih.import_hupr(src, tmp_path / "h.zarr", splits=ih.read_split_config(src / "cfg.yaml"), map_shape=MAP)
    assert res.splits == {"train": 13, "val": 3, "test": 2}
    assert any("1 annotated frames lack a hori or vert map" in n for n in res.notes)
    r = DatasetReader(tmp_path / "h.zarr")
    assert r.spec.shape == (16, 2, 16, 16, 4) and r.spec.skeleton == "hupr14" and r.spec.image_size_px == 256
    sess = r.root.attrs["sessions"]
    j2d, si, fi, split = r.labels("joints_2d"), r.session_index, r.frame_index, r.split
    for i in range(len(r)):
        seq, f = sess[si[i]]["subject"], int(fi[i])
        np.testing.assert_array_equal(j2d[i, 0], truth[(seq, f)])
        assert split[i] == {4: 0, 2: 0, 9: 1, 3: 2}[seq]
        for view in ih.VIEWS:
            m = maps[(view, seq, f)]
            # independent: HuPR index (d, r, a, e) ↦ rfpose (d, ·, R-1-r, A-1-a, E-1-e)
            want = np.empty((16, 2, *MAP[1:]), np.float32)
            R, A, E = MAP[1:]
            for r_ in range(R):
                for a in range(A):
                    for e in range(E):
                        v = m[:, R - 1 - r_, A - 1 - a, E - 1 - e] / ih.SCALE
                        want[:, 0, r_, a, e], want[:, 1, r_, a, e] = v.real, v.imag
            np.testing.assert_array_equal(r.read(f"x_{view}", np.array([i]))[0], want.astype(np.float16))
    assert np.all(np.isnan(r.labels("joints")))
    # the frame past 600 keeps its own number; windows stay within the sequence
    assert 602 in fi[np.array([sess[s]["subject"] == 4 for s in si])]
    result = train(TrainConfig(model="hupr-lite", data=str(tmp_path / "h.zarr"), out=str(tmp_path / "run"), epochs=1,
                               batch_size=2, limit_train=2, limit_val=1,
                               model_overrides=_tiny("hupr-lite")))
    assert np.isfinite(result["history"][0]["train_loss"])


def test_hupr_cli_real_shape_with_published_split(tmp_path, capsys):
    """Real-size complex128 maps; annotation files with HuPR's 193 / 21 / 21 entries, most sequences absent."""
    rng = np.random.default_rng(6)
    src = tmp_path / "hupr"
    src.mkdir()
    frames = {2: range(2), 1: range(1), 15: range(1)}  # first entries of train, val, test
    truth, _ = write_hupr_tree(src, rng, ih.HUPR_SPLITS, frames, map_shape=ih.MAP_SHAPE)
    out = tmp_path / "h.zarr"
    assert main(["import", "hupr", str(src), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4 labelled frames from 3 sequences (train 2, val 1, test 1)" in text
    r = DatasetReader(out)
    assert r.spec.shape == (16, 2, 64, 64, 8)
    assert r.root.attrs["config"]["import"]["split_source"] == "HuPR config/mscsa_prgcn.yaml"
    sess = r.root.attrs["sessions"]
    for i in range(len(r)):
        key = (sess[r.session_index[i]]["subject"], int(r.frame_index[i]))
        np.testing.assert_array_equal(r.labels("joints_2d")[i, 0], truth[key])


@pytest.mark.parametrize("damage, message", [
    (lambda s: (s / "hrnet_annot_train.json").write_text("[[{\"image\": "), "hrnet_annot_train.json:1: malformed JSON"),
    (lambda s: (s / "hrnet_annot_train.json").write_text(json.dumps([[{"image": "000000000.jpg", "joints": [[1, 2]] * 13}]])),
     "sequence entry 0 annotation 0: field 'joints' has shape (13, 2)"),
    (lambda s: (s / "hrnet_annot_train.json").write_text(json.dumps([[{"image": "x.jpg", "joints": [[1, 2]] * 14}]])),
     "field 'image' 'x.jpg' is not"),
    (lambda s: (s / "hrnet_annot_train.json").write_text(json.dumps([[], [], []])), "3 sequence entries"),
    (lambda s: np.save(s / "single_2/hori/000000000.npy", np.zeros(MAP, np.float32)),
     "000000000.npy: float32 (16, 16, 16, 4), expected complex"),
    (lambda s: [p.unlink() for p in s.glob("hrnet_annot_*.json")], "no annotated frame has both radar maps"),
])
def test_hupr_bad_input_is_one_typed_line(tmp_path, damage, message):
    src = tmp_path / "hupr"
    src.mkdir()
    write_hupr_tree(src, np.random.default_rng(7), {"train": [2, 3], "val": [], "test": []}, {2: range(2)})
    damage(src)
    with pytest.raises((FormatError, ShapeError), match=message.replace("(", r"\(").replace(")", r"\)")):
        ih.import_hupr(src, tmp_path / "h.zarr", splits={"train": [2, 3], "val": [], "test": []}, map_shape=MAP)


def test_hupr_bad_config_is_one_line(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("DATASET:\n  trainName: [1, x]\n")
    assert main(["import", "hupr", str(tmp_path), "--out", str(tmp_path / "o.zarr"),
                 "--config", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "c.yaml: DATASET.trainName must be a list of sequence numbers" in err and len(err.splitlines()) == 1


# -- the label parsers, property-based ----------------------------------------------------------------
_coord = st.floats(-20, 20, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.integers(0, 300).map(str), st.dictionaries(
    st.integers(0, 9999).map(str), st.lists(st.tuples(st.integers(0, 3000), st.lists(
        st.lists(_coord, min_size=3, max_size=3), min_size=15, max_size=15)), min_size=1, max_size=2),
    min_size=1, max_size=4), max_size=3))
def test_rtpose_label_parser_round_trips(tmp_path, doc):
    path = tmp_path / "Train.json"
    path.write_text(json.dumps({s: {f: [{"Radar_frameID": rid, "pose": pose} for rid, pose in people]
                                    for f, people in frames.items()} for s, frames in doc.items()}))
    want = {}
    for s, frames in doc.items():
        for people in frames.values():
            for rid, pose in people:
                want.setdefault((s, rid), []).append(np.asarray(pose, np.float32))
    got = ir.read_labels(path)
    assert sorted((s, rid) for s, rid, _ in got) == sorted(want)
    for s, rid, poses in got:
        np.testing.assert_array_equal(poses, np.stack(want[(s, rid)]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(st.tuples(st.integers(0, 10**6), st.lists(st.lists(_coord, min_size=2, max_size=2),
                                                                    min_size=14, max_size=14)), max_size=3),
                max_size=3),
       st.sampled_from([None, "bbox", "image", "joints"]))
def test_hupr_annotation_parser_round_trips_or_names_the_field(tmp_path, entries, drop):
    doc = [[{"image": f"{f:09d}.jpg", "joints": j, "bbox": [0, 0, 1, 1]} for f, j in e] for e in entries]
    for e in doc:
        for block in e:
            block.pop(drop, None)
    path = tmp_path / "hrnet_annot_train.json"
    path.write_text(json.dumps(doc))
    if drop in ("image", "joints") and any(entries):
        with pytest.raises(FormatError, match="needs fields 'image' and 'joints'"):
            ih.read_annotations(path)
        return
    got = ih.read_annotations(path)
    assert [[f for f, _ in e] for e in got] == [[f for f, _ in e] for e in entries]
    for ge, we in zip(got, entries):
        for (_, gj), (_, wj) in zip(ge, we):
            np.testing.assert_array_equal(gj, np.asarray(wj, np.float32))
