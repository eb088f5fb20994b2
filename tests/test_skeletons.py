import numpy as np
import pytest

from rfpose.errors import ShapeError, UnknownNameError
from rfpose.skeletons import SKELETONS, conversion_matrix, convert, get_skeleton


@pytest.mark.parametrize("name", sorted(SKELETONS))
def test_skeleton_is_consistent(name):
    s = get_skeleton(name)
    assert len(set(s.joints)) == s.num_joints
    for a, b in s.edges:
        assert 0 <= a < s.num_joints and 0 <= b < s.num_joints and a != b
    perm = s.flip_permutation()
    assert sorted(perm) == list(range(s.num_joints))
    assert (perm[perm] == np.arange(s.num_joints)).all()  # an involution
    for a, b in s.flip_pairs:
        assert s.joints[a].startswith("l_") and s.joints[b] == "r_" + s.joints[a][2:]
    if s.oks_sigmas is not None:
        assert len(s.oks_sigmas) == s.num_joints
        for a, b in s.flip_pairs:
            assert s.oks_sigmas[a] == s.oks_sigmas[b]


def test_known_orders_and_sigmas():
    rt = get_skeleton("rtpose15")
    assert rt.joints[0] == "pelvis" and rt.joints[9] == "r_shoulder" and rt.joints[12] == "l_shoulder"
    assert rt.flip_pairs == ((4, 1), (5, 2), (6, 3), (12, 9), (13, 10), (14, 11))
    hu = get_skeleton("hupr14")
    assert hu.joints[6:8] == ("neck", "head") and hu.joints[8] == "l_shoulder"
    assert hu.oks_sigmas[0] == 0.107 and hu.oks_sigmas[10] == 0.062
    coco = get_skeleton("coco17")
    assert coco.oks_sigmas[0] == 0.026 and coco.num_joints == 17
    assert get_skeleton("blazepose33").num_joints == 33


def test_blazepose_to_coco_is_the_documented_index_map():
    m = conversion_matrix("blazepose33", "coco17")
    assert (m.argmax(axis=1) == [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]).all()
    assert (m.sum(axis=1) == 1).all()


def test_derived_joints_are_means():
    rng = np.random.default_rng(0)
    coco = rng.normal(size=(5, 17, 3))
    rt, valid = convert(coco, "coco17", "rtpose15")
    assert valid.all()
    c = get_skeleton("coco17")
    np.testing.assert_allclose(rt[:, 0], (coco[:, c.index("l_hip")] + coco[:, c.index("r_hip")]) / 2)
    np.testing.assert_allclose(rt[:, 7], (coco[:, c.index("l_shoulder")] + coco[:, c.index("r_shoulder")]) / 2)
    np.testing.assert_allclose(rt[:, 8], (coco[:, c.index("l_ear")] + coco[:, c.index("r_ear")]) / 2)
    np.testing.assert_allclose(rt[:, 11], coco[:, c.index("r_wrist")])


def test_rtpose_to_hupr_and_back_keeps_shared_joints():
    rng = np.random.default_rng(1)
    rt = rng.normal(size=(15, 3))
    hu, valid = convert(rt, "rtpose15", "hupr14")
    assert valid.all()
    assert np.allclose(hu[6], rt[7])  # neck from thorax
    back, valid_back = convert(hu, "hupr14", "rtpose15")
    assert valid_back.all()
    keep = [1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14]
    np.testing.assert_allclose(back[keep], rt[keep])


def test_missing_joints_are_nan_and_flagged():
    hu = np.zeros((14, 2))
    coco, valid = convert(hu, "hupr14", "coco17")
    assert not valid[0] and np.isnan(coco[0]).all()  # no nose in hupr14
    assert valid[5] and not np.isnan(coco[5]).any()


def test_errors():
    with pytest.raises(UnknownNameError, match="rtpose15"):
        get_skeleton("smpl")
    with pytest.raises(ShapeError, match="expected"):
        convert(np.zeros((10, 3)), "rtpose15", "coco17")
    with pytest.raises(UnknownNameError):
        get_skeleton("rtpose15").index("tail")
