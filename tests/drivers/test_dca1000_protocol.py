"""Golden bytes of the DCA1000 wire formats (TI rf_api.h / RF_API.cpp, cross-checked in the reference)."""

import pytest

from rfpose.drivers import dca1000_protocol as p
from rfpose.errors import ParseError


def test_aliveness_request_bytes():
    assert p.pack_request(p.Cmd.SYSTEM_ALIVENESS) == bytes.fromhex("5a a5 09 00 00 00 aa ee")


def test_config_fpga_payload_two_and_four_lanes():
    assert p.config_fpga_payload(2) == bytes.fromhex("01 02 01 02 03 1e")
    assert p.config_fpga_payload(4) == bytes.fromhex("01 01 01 02 03 1e")
    assert p.pack_request(p.Cmd.CONFIG_FPGA, p.config_fpga_payload(2)) == bytes.fromhex(
        "5a a5 03 00 06 00 01 02 01 02 03 1e aa ee")
    with pytest.raises(ValueError):
        p.config_fpga_payload(3)


def test_config_record_25us_is_0c35_ticks():
    assert p.packet_delay_ticks(25) == 0x0C35 == 3125
    assert p.config_record_payload(25) == bytes.fromhex("be 05 35 0c 00 00")  # 1470, 3125, 0
    assert p.pack_request(p.Cmd.CONFIG_RECORD, p.config_record_payload(25)) == bytes.fromhex(
        "5a a5 0b 00 06 00 be 05 35 0c 00 00 aa ee")
    assert p.parse_config_record_payload(p.config_record_payload(5)) == 5.0
    for bad in (4.9, 501):
        with pytest.raises(ValueError):
            p.config_record_payload(bad)


def test_request_round_trip_and_rejects():
    req = p.parse_request(p.pack_request(p.Cmd.CONFIG_RECORD, b"\x01\x02\x03\x04\x05\x06"))
    assert (req.cmd, req.payload) == (0x0B, b"\x01\x02\x03\x04\x05\x06")
    good = p.pack_request(p.Cmd.START_RECORD)
    for bad in (good[:5], b"\x00" + good[1:], good[:-1] + b"\x00", good[:4] + b"\x05\x00" + good[6:]):
        with pytest.raises(ParseError):
            p.parse_request(bad)
    with pytest.raises(ValueError):
        p.pack_request(p.Cmd.CONFIG_EEPROM, bytes(505))


def test_response_and_async_status():
    assert p.pack_response(p.Cmd.START_RECORD, 0) == bytes.fromhex("5a a5 05 00 00 00 aa ee")
    r = p.parse_response(bytes.fromhex("5a a5 0a 00 09 00 aa ee"))
    assert r.is_async and p.async_status_name(r.status) == "LVDS_BUFFER_FULL"
    assert p.async_status_name(8) == "REC_COMPLETED" and p.async_status_name(99) == "UNKNOWN_99"
    for bad in (bytes(8), bytes.fromhex("5a a5 05 00 00 00 aa"), bytes.fromhex("5a a5 05 00 00 00 aa ef"),
                bytes.fromhex("5a a5 05 00 00 00 aa ee 00")):
        with pytest.raises(ParseError):
            p.parse_response(bad)


def test_fpga_version_decoding():
    v = p.decode_fpga_version(2 | (8 << 7))
    assert (v.major, v.minor, v.playback) == (2, 8, False)
    v = p.decode_fpga_version(0x4000 | 3 | (1 << 7))
    assert (v.major, v.minor, v.playback) == (3, 1, True)
    assert p.decode_fpga_version(p.encode_fpga_version(5, 9, True)) == p.FpgaVersion(5, 9, True)


def test_data_packet_header_bytes():
    # seq 1, byte_count 0: the stream's first packet
    assert p.pack_data_header(1, 0) == bytes.fromhex("01 00 00 00 00 00 00 00 00 00")
    # seq 0x0102, byte_count 0x0000_0102_0304_0506 (48 bits, little-endian)
    h = p.pack_data_header(0x0102, 0x010203040506)
    assert h == bytes.fromhex("02 01 00 00 06 05 04 03 02 01")
    assert p.unpack_data_header(h + b"payload") == (0x0102, 0x010203040506)
    assert p.MAX_DATAGRAM_BYTES == 1466
