"""monitor.toml: typed, validated at start, errors name file:line; radar only by construction."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rfpose.app.monitor.config import key_lines, load_config, parse_config
from rfpose.errors import ConfigError

GOOD = """\
device_id = "bedroom"
[source]
uri = "session://rec.zarr?realtime=1&loop=1#radar"

[model]
run = "run"

[room.radar]
height_m = 1.1
tilt_deg = 10

[[zones]]
name = "bed"
polygon = [[2.0, -1.0], [4.0, -1.0],
           [4.0, 0.5]]

[[zones]]
name = "fan"
exclusion = true
polygon = [[1, 1], [1.5, 1], [1.5, 1.5]]

[mqtt]
host = "127.0.0.1"
port = 1884

[web]
token_file = "token"
"""


def test_good_config_parses_and_resolves_paths(tmp_path):
    p = tmp_path / "monitor.toml"
    p.write_text(GOOD)
    cfg = load_config(p)
    assert cfg.device_id == "bedroom" and cfg.room.radar.height_m == 1.1 and cfg.room.radar.tilt_deg == 10.0
    assert [z.name for z in cfg.zones] == ["bed", "fan"] and cfg.zones[1].exclusion
    assert cfg.model.run == str(tmp_path / "run") and cfg.web.token_file == str(tmp_path / "token")
    assert cfg.topic_prefix == "rfpose/bedroom" and cfg.mqtt.port == 1884
    assert cfg.model.sustain_score is None
    assert parse_config(GOOD.replace('run = "run"', 'run = "run"\nsustain_score = 0.1')).model.sustain_score == 0.1


def test_key_lines_follow_tables_and_arrays_of_tables():
    lines = key_lines(GOOD)
    assert lines[("source", "uri")] == 3 and lines[("room", "radar", "tilt_deg")] == 10
    assert lines[("zones", 1, "polygon")] == 20 and lines[("mqtt", "port")] == 24


@pytest.mark.parametrize("edit, line, words", [
    (("port = 1884", "port = \"x\""), 24, "mqtt.port: expected an integer"),
    (("height_m = 1.1", "heigth_m = 1.1"), 9, "unknown key"),
    (("name = \"fan\"", "name = \"bed\""), 18, "defined twice"),
    (("polygon = [[1, 1], [1.5, 1], [1.5, 1.5]]", "polygon = [[1, 1], [1.5, 1]]"), 20, "at least 3"),
    (("uri = \"session://rec.zarr?realtime=1&loop=1#radar\"", "uri = \"camera://0\""), 3, "radar only"),
    (("uri = \"session://rec.zarr?realtime=1&loop=1#radar\"", "uri = \"ouster://10.0.0.2\""), 3, "LiDAR"),
    (("[web]\ntoken_file = \"token\"", "[web]\nport = 80"), 26, "token file"),
    (("port = 1884", "port = 1884\nport = 2"), 25, "not valid TOML"),
    (("run = \"run\"", "run = \"run\"\nsustain_score = \"low\""), 7, "sustain_score: must be a number"),
    (("[web]", "[events]\nfall_height = \"knees\"\n[web]"), 27, "fall_height: expected one of head, torso"),
    (("[web]", "[clusters]\ntop_percentile = 0\n[web]"), 27, "clusters.top_percentile: must be in"),
    (("[web]", "[clusters]\nframes = -1\n[web]"), 27, "clusters.frames: must not be negative"),
    (("[web]", "[clusters]\nminor_motion_db = -3\n[web]"), 27, "clusters.minor_motion_db: must not be negative"),
    (("[web]", "[tracking]\nfloor_death_s = -10\n[web]"), 27, "tracking.floor_death_s: must not be negative"),
])
def test_bad_config_names_file_and_line(tmp_path, edit, line, words):
    p = tmp_path / "monitor.toml"
    p.write_text(GOOD.replace(*edit))
    with pytest.raises(ConfigError, match=words) as e:
        load_config(p)
    assert str(e.value).startswith(f"{p}:{line}: ")


def test_missing_source_and_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="source.uri is required"):
        parse_config("[web]\nenabled = false\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_quick_form_zones_file(tmp_path):
    from rfpose.app.monitor.config import load_zones

    p = tmp_path / "zones.toml"
    p.write_text('[[zones]]\nname = "sofa"\npolygon = [[1, 1], [2, 1], [2, 2]]\n\n[[zones]]\nname = "sofa"\n'
                 'polygon = [[1, 1], [2, 1], [2, 2]]\n')
    with pytest.raises(ConfigError, match=f"^{p}:6: zones\\[1\\].name: zone 'sofa' is defined twice"):
        load_zones(p)
    p.write_text('[[zones]]\nname = "sofa"\npolygon = [[1, 1], [2, 1], [2, 2]]\nexclusion = true\n')
    (z,) = load_zones(p)
    assert z.name == "sofa" and z.exclusion

_TOKENS = st.sampled_from(["[source]", "[mqtt]", "[[zones]]", "[room.radar]", "[tracking]", "uri = ", "port = ",
                           "name = ", "polygon = ", "height_m = ", "gate_m = ", '"x"', "1", "-2.5", "[[1, 2], [3, 4]]",
                           "true", "[", "]", "=", "\n", "#", " ", '"', "device_id = ", "zones = 3", "web.port = 1"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKENS, max_size=40).map("".join) | st.text(max_size=200))
def test_any_text_is_a_config_or_one_config_error(text):
    try:
        cfg = parse_config(text, "fuzz.toml")
    except ConfigError as e:
        assert str(e).startswith("fuzz.toml") and "\n" not in str(e).strip()
    else:
        assert cfg.source.uri
