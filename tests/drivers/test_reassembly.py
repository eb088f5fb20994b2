"""Frame reassembly from byte_count, fed packet by packet (pure logic, no sockets)."""

import numpy as np
import pytest

from rfpose.drivers.dca1000_protocol import MAX_PAYLOAD_BYTES, pack_data_packet
from rfpose.drivers.dca1000_reassembly import FrameReassembler

F = 10_000  # not a multiple of 1456: packets straddle every frame boundary


def stream(n_frames, seed=0):
    return np.random.default_rng(seed).integers(-32768, 32768, n_frames * F // 2, dtype=np.int16).tobytes()


def packets(data, size=MAX_PAYLOAD_BYTES):
    return [(i // size + 1, i, data[i:i + size]) for i in range(0, len(data), size)]


def run(pkts, n_frames=None, **kw):
    out = []
    r = FrameReassembler(F, out.append, **kw)
    for seq, bc, payload in pkts:
        d = pack_data_packet(seq, bc, payload)
        r.feed(d, len(d))
    r.flush(include_partial=True)
    return out, r.stats


def expected_loss(dropped):
    """Per-frame lost bytes of dropped (seq, bc, payload) packets, split at frame boundaries."""
    lost = {}
    for _, bc, payload in dropped:
        pos, end = bc, bc + len(payload)
        while pos < end:
            k = pos // F
            take = min(end, (k + 1) * F) - pos
            lost[k] = lost.get(k, 0) + take
            pos += take
    return lost


def check(frames, data, dropped, n_frames):
    lost = expected_loss(dropped)
    mask = np.ones(len(data), bool)
    for _, bc, payload in dropped:
        mask[bc:bc + len(payload)] = False
    src = np.frombuffer(data, np.uint8)
    assert [f.index for f in frames] == list(range(n_frames))
    for f in frames:
        got = f.adc.view(np.uint8)
        sl = slice(f.index * F, (f.index + 1) * F)
        m = mask[sl]
        assert np.array_equal(got[m], src[sl][m]), f"frame {f.index}: bytes outside lost packets differ"
        assert not got[~m].any(), f"frame {f.index}: lost span not zero-filled"
        assert f.lost_bytes == lost.get(f.index, 0)
        assert f.complete == (f.index not in lost)
        assert f.adc.dtype == np.int16 and f.adc.shape == (F // 2,)


def test_clean_stream_is_byte_exact():
    data = stream(6)
    frames, st = run(packets(data))
    check(frames, data, [], 6)
    assert st.lost_bytes == 0 and st.frames_incomplete == 0 and st.malformed == 0


def test_burst_straddling_a_frame_boundary_is_charged_to_both_frames():
    data = stream(6)
    pk = packets(data)
    # the packet holding byte 2F and its successor: the first spans frames 1|2
    i = 2 * F // MAX_PAYLOAD_BYTES
    assert pk[i][1] < 2 * F < pk[i][1] + len(pk[i][2])
    dropped = [pk[i], pk[i + 1]]
    frames, st = run([p for p in pk if p not in dropped])
    check(frames, data, dropped, 6)
    assert frames[1].lost_bytes == 2 * F - pk[i][1] > 0
    assert frames[2].lost_bytes == pk[i][1] + 2 * MAX_PAYLOAD_BYTES - 2 * F
    assert st.lost_bytes == 2 * MAX_PAYLOAD_BYTES


def test_random_loss_reorder_duplicates():
    rng = np.random.default_rng(3)
    data = stream(40)
    pk = packets(data)
    keep, dropped = [], []
    for p in pk:
        (dropped if rng.random() < 0.01 else keep).append(p)
    assert dropped
    # reorder: swap some neighbours; duplicate some
    for j in rng.choice(len(keep) - 4, 30, replace=False):
        keep[j], keep[j + 3] = keep[j + 3], keep[j]
    for j in sorted(rng.choice(len(keep), 20, replace=False), reverse=True):
        keep.insert(j + 1, keep[j])
    frames, st = run(keep)
    check(frames, data, dropped, 40)
    assert st.duplicates == 20
    assert st.late_filled >= 30
    assert st.lost_bytes == sum(len(p[2]) for p in dropped)


def test_late_packet_fills_its_place_and_stops_counting_as_lost():
    data = stream(4)
    pk = packets(data)
    late = pk[3]
    order = pk[:3] + pk[4:10] + [late] + pk[10:]
    frames, st = run(order)
    check(frames, data, [], 4)
    assert st.late_filled == 1


def test_packet_after_its_frame_was_emitted_stays_lost():
    data = stream(6)
    pk = packets(data)
    late = pk[1]
    # reorder window of one packet: frame 0 is final long before the straggler comes
    frames, st = run(pk[:1] + pk[2:] + [late], reorder_bytes=MAX_PAYLOAD_BYTES)
    check(frames, data, [late], 6)
    assert st.too_late == 1


def test_malformed_packets_are_counted_and_skipped():
    data = stream(3)
    pk = packets(data)
    out = []
    r = FrameReassembler(F, out.append)
    bad = [b"\x01\x00", pack_data_packet(5, 0, b""), pack_data_packet(2, 0, bytes(1500)),
           pack_data_packet(0, 0, b"xx"),                      # seq 0 does not exist
           pack_data_packet(3, 10 * MAX_PAYLOAD_BYTES, b"xx"),  # more bytes before it than 2 packets carry
           pack_data_packet(10**6, 10**12, b"xx")]              # an absurd jump
    for seq, bc, payload in pk:
        d = pack_data_packet(seq, bc, payload)
        r.feed(d, len(d))
        if seq == 2:
            for b in bad:
                r.feed(b, len(b))
    r.flush()
    check(out, data, [], 3)
    assert r.stats.malformed == len(bad)
    assert r.stats.malformed_reasons == {"length": 3, "byte_count": 3}


def test_first_packet_lost_and_a_whole_frame_lost():
    data = stream(5)
    pk = packets(data)
    dropped = [pk[0]] + [p for p in pk if p[1] >= 2 * F and p[1] + len(p[2]) <= 3 * F]
    # also the packets overlapping frame 2 partially, so that frame 2 gets nothing at all
    dropped += [p for p in pk if p not in dropped and p[1] < 3 * F and p[1] + len(p[2]) > 2 * F]
    frames, st = run([p for p in pk if p not in dropped])
    check(frames, data, dropped, 5)
    assert frames[2].lost_bytes == F and not frames[2].adc.any()


def test_partial_tail_at_stop():
    data = stream(3)[: 2 * F + 3000]
    out = []
    r = FrameReassembler(F, out.append)
    for seq, bc, payload in packets(data):
        d = pack_data_packet(seq, bc, payload)
        r.feed(d, len(d))
    assert len(out) == 2  # the complete frames went out with their last byte
    assert r.flush(include_partial=True) == 1
    assert out[2].lost_bytes == F - 3000 and not out[2].complete
    out2 = []
    r2 = FrameReassembler(F, out2.append)
    for seq, bc, payload in packets(data):
        d = pack_data_packet(seq, bc, payload)
        r2.feed(d, len(d))
    r2.flush(include_partial=False)
    assert len(out2) == 2


def test_complete_frames_go_out_with_their_last_byte_incomplete_ones_after_the_reorder_window():
    """A live consumer gets a complete frame with the datagram that completed it (no wait for the next
    frame's packets or the receiver's idle flush); a frame missing a packet waits until the stream is the
    reorder window past its end, in case the packet comes late."""
    data = stream(4)
    lost = next(i for i, (_, bc, p) in enumerate(packets(data)) if bc < 2 * F - 3000 < bc + len(p))  # in frame 1
    out = []
    r = FrameReassembler(F, out.append, reorder_bytes=2 * MAX_PAYLOAD_BYTES)
    for i, (seq, bc, payload) in enumerate(packets(data)):
        if i == lost:
            continue
        d = pack_data_packet(seq, bc, payload)
        r.feed(d, len(d))
        end = bc + len(payload)
        emitted = {f.index for f in out}
        for k in range(4):
            out_at = (k + 1) * F + (2 * MAX_PAYLOAD_BYTES if k == 1 else 0)  # frame 1 waits for the window
            if k > 1:  # frames go out in order: behind frame 1
                out_at = max(out_at, 2 * F + 2 * MAX_PAYLOAD_BYTES)
            assert (k in emitted) == (out_at <= end), (k, end)
    assert [f.index for f in out] == [0, 1, 2, 3] and [f.complete for f in out] == [True, False, True, True]


def test_bad_frame_size():
    with pytest.raises(ValueError):
        FrameReassembler(1001, lambda f: None)


# -- hostile and inconsistent packets (issue 20: no single packet can move the stream) ---------------

def feed_all(r, pkts):
    for seq, bc, payload in pkts:
        d = pack_data_packet(seq, bc, payload)
        r.feed(d, len(d))


@pytest.mark.parametrize("at", [0, 5, 20])
@pytest.mark.parametrize("jump", [F, 64 << 20, (1 << 48) - 2 * F])
def test_one_forged_packet_cannot_move_the_stream(at, jump):
    """seq 0xFFFFFFFF and a byte count far ahead: held as suspect, never confirmed, counted."""
    data = stream(8)
    pk = packets(data)
    out = []
    r = FrameReassembler(F, out.append, reorder_bytes=4 * MAX_PAYLOAD_BYTES)
    forged = (0xFFFFFFFF, min(pk[at][1] + jump, (1 << 48) - 100), b"\x7f" * 64)
    feed_all(r, pk[:at] + [forged] + pk[at:])
    r.flush()
    check(out, data, [], 8)
    assert r.stats.malformed == 1 and r.stats.jumps == 0  # unconfirmed, or beyond what its seq allows


def test_a_forged_packet_within_the_window_but_with_a_wild_seq_is_suspect():
    data = stream(4)
    pk = packets(data)
    out = []
    r = FrameReassembler(F, out.append)
    feed_all(r, pk[:10] + [(pk[10][0] + 10**6, pk[10][1], b"\x55" * MAX_PAYLOAD_BYTES)] + pk[10:])
    r.flush()
    check(out, data, [], 4)
    assert r.stats.malformed_reasons == {"unconfirmed": 1} and r.stats.highest_seq == pk[-1][0]


def test_a_real_jump_is_followed_once_later_packets_confirm_it():
    """A loss burst longer than the reorder window: the stream moves after confirm_packets more agree."""
    data = stream(40)
    pk = packets(data)
    dropped = [p for p in pk if 3 * F <= p[1] < 30 * F]
    out = []
    r = FrameReassembler(F, out.append, reorder_bytes=4 * MAX_PAYLOAD_BYTES)
    feed_all(r, [p for p in pk if p not in dropped])
    r.flush()
    st = r.stats
    assert st.jumps == 1 and st.malformed == 0
    lost = expected_loss(dropped)
    got = {f.index: f for f in out}
    assert st.frames_skipped + len(out) == 40 and st.frames_skipped > 0
    assert st.lost_bytes == sum(lost.values())
    src = np.frombuffer(data, np.uint8)
    for k in range(40):
        if k in got:
            f = got[k]
            assert f.lost_bytes == lost.get(k, 0)
            if not f.lost_bytes:
                assert np.array_equal(f.adc.view(np.uint8), src[k * F:(k + 1) * F])
        else:
            assert lost.get(k) == F  # only frames that lost everything are skipped
    assert [f.index for f in out] == sorted(got)


def test_bytes_repeated_under_another_seq_never_make_lost_bytes_negative():
    data = stream(3)
    pk = packets(data)
    seq, bc, payload = pk[3]
    again = [(seq + 1, bc, payload), (seq, bc + 2, payload[2:])]  # same bytes, another seq or offset
    dropped = [pk[12]]
    out = []
    r = FrameReassembler(F, out.append)
    feed_all(r, [p for p in pk[:5] if p not in dropped] + again + [p for p in pk[5:] if p not in dropped])
    r.flush()
    check(out, data, dropped, 3)
    assert all(f.lost_bytes >= 0 for f in out) and r.stats.lost_bytes == len(pk[12][2])


def test_the_real_capture_survives_a_forged_first_packet(real_one_frame):
    """The real DCA1000's 12 packets (../shared/data/real), a forged packet sent before them."""
    pkts = [p for _, _, dport, p in real_one_frame if dport == 4098]
    assert len(pkts) == 12
    out = []
    r = FrameReassembler(16_384, out.append)
    forged = pack_data_packet(0xFFFFFFFF, 40 << 20, bytes(100))
    r.feed(forged, len(forged))
    for d in pkts:
        r.feed(d, len(d))
    r.flush()
    import hashlib

    assert len(out) == 1 and out[0].complete
    assert hashlib.sha256(out[0].adc.tobytes()).hexdigest() == \
        "1be5daf4f0a43056e04b5ba2ffe70017a3319213e23558f589f556ab1b6c1936"
