"""Run the radar-only room monitor: tracked people, presence by zone, posture and falls, over MQTT (Home
Assistant discovery) and an authenticated web page.

  rfpose monitor --config monitor.toml
  rfpose monitor --source URI --run RUN_DIR [--mqtt HOST:PORT] [--web HOST:PORT] [--token-file FILE] [--zones FILE]
  rfpose monitor … --record OUT.zarr [--force]    # also record the radar stream it watches

Sources are radar only: dca1000://…, uart://…, sim://…, session://REC.zarr?realtime=1&loop=1#radar.
"""

from __future__ import annotations

import argparse


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    from rfpose.errors import ConfigError

    host, sep, port = text.rpartition(":")
    if not sep:
        return text, default_port
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{text!r}: expected HOST:PORT")
    return host or "127.0.0.1", int(port)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="monitor.toml (everything configurable; see docs)")
    p.add_argument("--source", help="radar source URI (quick form)")
    p.add_argument("--run", help="training run directory of the pose model (quick form)")
    p.add_argument("--mqtt", metavar="HOST:PORT", help="MQTT broker (quick form)")
    p.add_argument("--web", metavar="HOST:PORT", help="serve the web page here (quick form; 127.0.0.1 by default)")
    p.add_argument("--token-file", help="web token file, created with a random token if missing "
                                        "(default with --web: rfpose-monitor.token)")
    p.add_argument("--zones", help="TOML file of [[zones]] (quick form)")
    p.add_argument("--device-id", default="room", help="names the MQTT topics and the Home Assistant device")
    p.add_argument("--radar-height", type=float, default=None, help="radar height above the floor, m (quick form)")
    p.add_argument("--event-log", default=None, help="SQLite event log (default monitor-events.sqlite)")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--record", metavar="OUT.zarr", help="also record the radar stream into this session (every "
                                                         "frame as received; refused if it exists, unless --force)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --record session")
    p.add_argument("--check", action="store_true", help="validate the configuration and exit")


def build_config(args):
    from rfpose.app.monitor.config import MonitorConfig, load_config, load_zones, validate
    from rfpose.errors import ConfigError

    quick = [f for f in ("source", "run", "mqtt", "web", "token_file", "zones", "radar_height") if getattr(args, f)]
    if args.config:
        if quick:
            raise ConfigError(f"--config and --{quick[0].replace('_', '-')} do not mix; put it in the config file")
        cfg = load_config(args.config)
    else:
        if not args.source:
            raise ConfigError("give --config monitor.toml, or --source URI (and --run RUN_DIR)")
        cfg = MonitorConfig(device_id=args.device_id)
        cfg.source.uri = args.source
        cfg.model.run = args.run or ""
        if args.mqtt:
            cfg.mqtt.host, cfg.mqtt.port = _host_port(args.mqtt, 1883)
        cfg.web.enabled = bool(args.web or args.token_file)
        if args.web:
            cfg.web.host, cfg.web.port = _host_port(args.web, 8765)
        cfg.web.token_file = args.token_file or ("rfpose-monitor.token" if cfg.web.enabled else "")
        if args.zones:
            cfg.zones = load_zones(args.zones)
        if args.radar_height is not None:
            cfg.room.radar.height_m = args.radar_height
        validate(cfg)
    if args.event_log:
        cfg.event_log = args.event_log
    if args.record:
        cfg.source.record, cfg.source.record_overwrite = args.record, args.force
    return cfg


def run(args) -> int:
    import json
    import signal
    import threading

    from rfpose.app.monitor.service import Monitor

    cfg = build_config(args)
    if args.check:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    monitor = Monitor(cfg)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: monitor.stop())  # systemd stop: publish offline, close cleanly
    where = []
    if monitor.web is not None:
        where.append(f"web http://{cfg.web.host}:{monitor.web.port if monitor.web.server.started else cfg.web.port}/ "
                     f"(token in {cfg.web.token_file})")
    if monitor.mqtt is not None:
        where.append(f"MQTT {cfg.mqtt.host}:{cfg.mqtt.port} under {cfg.topic_prefix}/")
    print(f"rfpose monitor: {cfg.source.uri} → " + (", ".join(where) or "event log only") + f"; events in {cfg.event_log}",
          flush=True)
    monitor.run(args.duration)
    return 0
