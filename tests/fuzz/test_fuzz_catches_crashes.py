"""The fuzz harness can fail (issue 20): with a parser made to raise a bare IndexError on some inputs, the
same property tests that pass on the real parsers fail."""

from __future__ import annotations

import pytest
from hypothesis import Phase, settings

import test_fuzz_parsers as fz
from rfpose.drivers import dca1000_protocol as proto
from rfpose.drivers import pcd

pytestmark = pytest.mark.fuzz

settings.register_profile("crash-check", parent=settings.get_profile("ci"), phases=[Phase.generate])


@pytest.fixture(autouse=True)
def no_shrinking():
    """Finding the crash is the point; shrinking it (slow for file readers) is not."""
    settings.load_profile("crash-check")
    yield
    settings.load_profile("ci")


def _crash_sometimes(real):
    def parse(data, *args, **kwargs):
        if len(data) % 3 == 1:  # an off-by-one that only some lengths reach
            raise IndexError("injected crash")
        return real(data, *args, **kwargs)
    return parse


def test_an_injected_crash_fails_the_fuzz_property(monkeypatch):
    monkeypatch.setattr(proto, "parse_request", _crash_sometimes(proto.parse_request))
    with pytest.raises(IndexError, match="injected crash"):
        fz.test_fuzz_dca1000_control()


def test_an_injected_crash_in_a_file_reader_fails_too(monkeypatch, tmp_path_factory):
    real = pcd.read_pcd

    def read(path):
        if path.stat().st_size % 3 == 1:
            raise ValueError("injected crash")
        return real(path)

    monkeypatch.setattr(pcd, "read_pcd", read)
    with pytest.raises(ValueError, match="injected crash"):
        fz.test_fuzz_pcd(tmp_path_factory)


def test_an_untyped_error_in_the_reassembler_fails_the_fuzz_property(monkeypatch):
    from rfpose.drivers.dca1000_reassembly import FrameReassembler

    real = FrameReassembler.feed

    def feed(self, buf, n):
        if n > 1000:  # any full data packet
            raise IndexError("injected crash")
        return real(self, buf, n)

    monkeypatch.setattr(FrameReassembler, "feed", feed)
    with pytest.raises(IndexError, match="injected crash"):
        fz.test_fuzz_reassembly_with_junk_never_raises()
