import pytest
import torch

from rfpose.models.synthetic import SyntheticSpec, write_synthetic_dataset


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def rt_dataset(tmp_path_factory):
    """Two sessions (train, val) of 12 single-person rtpose samples, grid (32, 8, 16, 32)."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "rt.zarr",
                                   SyntheticSpec(format="rtpose", samples=24, sessions=2, split=(0, 1)))


@pytest.fixture(scope="session")
def rt_dataset_3splits(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "rt3.zarr",
                                   SyntheticSpec(format="rtpose", samples=18, sessions=3, people=2))


@pytest.fixture(scope="session")
def hupr_dataset(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("data") / "hupr.zarr",
                                   SyntheticSpec(format="hupr", samples=18, sessions=3))
