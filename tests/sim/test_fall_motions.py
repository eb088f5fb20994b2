"""sim-falls-v1's motions: each fall ends with the body on the floor by its recorded ``t_floor_s``, quickly
for the falls and over seconds for the slump; no confounder brings the body down to the floor, and those
that go down come back up or rest on a seat or bed."""

import numpy as np
import pytest

from rfpose.sim.body import BodyParams
from rfpose.sim.motion import CONFOUNDER_ACTIONS, FALL_ACTIONS, Area, Person

FLOOR = Area().floor_z


def _person(action, seed):
    body = BodyParams.random(np.random.default_rng([seed, 1]))
    return Person(body, action, np.random.default_rng([seed, 2]), chair_xy=np.array([3.3, 0.2]), horizon_s=30)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("action", FALL_ACTIONS + ("fall",))
def test_falls_end_on_the_floor(action, seed):
    p = _person(action, seed)
    ev = p.event
    assert ev["kind"] == "fall" and ev["t_floor_s"] > ev["t_start_s"] > 0
    t = np.array([ev["t_start_s"] - 0.2, ev["t_floor_s"] + 0.2, ev["t_floor_s"] + 10])
    z = p.joints(t)[..., 2] - FLOOR
    assert z[0].max() > 1.0  # upright (or seated, for the slump) before
    for k in (1, 2):
        assert z[k, 0] < 0.45 and z[k].max() < 0.75, (action, z[k])  # pelvis low, nothing held up high
        assert z[k].min() > -0.1  # nothing through the floor
    duration = ev["t_floor_s"] - ev["t_start_s"]
    assert (duration > 2.5) if action == "slump" else (0.5 < duration < 1.2)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("action", CONFOUNDER_ACTIONS)
def test_confounders_never_reach_the_floor(action, seed):
    p = _person(action, seed)
    assert p.event == {"kind": "none"}
    z = p.joints(np.arange(0, 30, 0.1))[..., 2] - FLOOR
    pelvis, head = z[:, 0], z[:, 8]
    assert pelvis.min() > 0.4, action  # a seat, a bed, the knees or standing
    assert head.min() > 0.75, action
    if action in ("bend-pick", "kneel"):
        assert head[-1] > 1.4  # upright again at the end
    assert p.describe()["event"] == {"kind": "none"}


def test_sit_fast_is_faster_than_walk_sit():
    def seconds_to_sit(action):
        p = _person(action, 0)
        t = np.arange(0, 30, 0.02)
        pelvis = p.joints(t)[:, 0, 2] - FLOOR
        top = pelvis[t < p.t_event].max()
        going = np.nonzero(pelvis < top - 0.05)[0][0]
        seated = np.nonzero(pelvis < pelvis.min() + 0.02)[0][0]
        return t[seated] - t[going]

    assert seconds_to_sit("sit-fast") < 0.7 < seconds_to_sit("walk-sit")
