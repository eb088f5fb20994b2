import pytest


@pytest.fixture(scope="session")
def small_walk(tmp_path_factory):
    """A 3-frame awr1843boost walk with small (160x120) cameras: a real simulated session, quickly."""
    from rfpose.sim.camera import CameraModel
    from rfpose.sim.session_writer import simulate_session

    out = tmp_path_factory.mktemp("calib") / "walk.zarr"
    simulate_session(out, "walk", 3, seed=5, board="awr1843boost",
                     camera_model=CameraModel(width=160, height=120, fx=130, fy=130, cx=79.5, cy=59.5))
    return out
