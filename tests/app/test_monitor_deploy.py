"""The shipped example config parses (and is radar only); the systemd unit runs `rfpose monitor --config`."""

from pathlib import Path

from rfpose.app.monitor.config import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_example_config_is_valid():
    cfg = load_config(DEPLOY / "monitor.toml")
    assert cfg.source.uri.startswith("dca1000://") and cfg.web.host == "127.0.0.1"
    assert [z.name for z in cfg.zones] == ["bed", "door", "fan"] and cfg.zones[2].exclusion
    assert cfg.mqtt.username and cfg.mqtt.password_file == "/etc/rfpose/mqtt-password"


def test_the_fall_benchmarks_configs_are_valid():
    """The configs docs/monitor.md reports results for still parse, with the settings it names."""
    bench = DEPLOY.parent / "docs" / "benchmarks" / "sim-falls-v1"
    files = sorted(bench.glob("*.toml"))
    assert len(files) >= 3
    configs = {f.name: load_config(f) for f in files}
    clusters = configs["monitor-clusters-val.toml"]
    assert clusters.tracking.floor_death_s == 10.0 and clusters.events.fall_confirm_s == 1.5
    assert clusters.events.slow_fall_confirm_s == 1.5 and clusters.clusters.top_percentile == 80.0
    assert clusters.events.still_fall_s == 0.0 and clusters.events.seen_within_s == 1.0
    assert clusters.clusters.minor_motion_db == 15.0
    assert clusters.tracking.floor_top_m == 0.8 and clusters.events.fall_centre_m == 0.65


def test_systemd_unit_runs_the_monitor_with_its_config():
    unit = (DEPLOY / "rfpose-monitor.service").read_text()
    assert "ExecStart=/opt/rfpose/bin/rfpose monitor --config /etc/rfpose/monitor.toml" in unit
    assert "Restart=on-failure" in unit and "[Install]" in unit
