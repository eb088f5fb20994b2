"""The shipped example config parses (and is radar only); the systemd unit runs `rfpose monitor --config`."""

from pathlib import Path

from rfpose.app.monitor.config import load_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_example_config_is_valid():
    cfg = load_config(DEPLOY / "monitor.toml")
    assert cfg.source.uri.startswith("dca1000://") and cfg.web.host == "127.0.0.1"
    assert [z.name for z in cfg.zones] == ["bed", "door", "fan"] and cfg.zones[2].exclusion
    assert cfg.mqtt.username and cfg.mqtt.password_file == "/etc/rfpose/mqtt-password"


def test_systemd_unit_runs_the_monitor_with_its_config():
    unit = (DEPLOY / "rfpose-monitor.service").read_text()
    assert "ExecStart=/opt/rfpose/bin/rfpose monitor --config /etc/rfpose/monitor.toml" in unit
    assert "Restart=on-failure" in unit and "[Install]" in unit
