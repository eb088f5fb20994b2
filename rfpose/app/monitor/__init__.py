"""``rfpose monitor``: a radar-only room monitor.

One radar source (a live board, a demo-firmware UART stream, an emulator or a session replayed in real
time) → pose model or point clusters → people tracked in the room frame → presence by zone, posture,
falls, inactivity → an SQLite event log, MQTT with Home Assistant discovery and an authenticated web page.

Modules: :mod:`.config` (``monitor.toml``), :mod:`.room` (room frame, polygons), :mod:`.detect` (frames →
detections), :mod:`.tracking` (Kalman tracks), :mod:`.events` (zones, posture, falls), :mod:`.store`
(SQLite), :mod:`.mqtt`, :mod:`.web`, :mod:`.service` (the loop that ties them together).
"""
