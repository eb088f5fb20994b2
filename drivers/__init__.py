"""Device drivers: TI mmWave CLI, DCA1000 control and data, demo-firmware TLV stream, sources, emulators.

Wire formats (pure functions over bytes): :mod:`.dca1000_protocol`, :mod:`.tlv`.
Logic over buffers: :mod:`.dca1000_reassembly` (frames from byte_count), :mod:`.serial_ports` (port matching).
Thin I/O layers: :mod:`.dca1000_control` (UDP 4096), :mod:`.dca1000_receiver` (UDP 4098, receiver thread),
:mod:`.mmwave_cli` (CLI UART).
Sources (:class:`rfpose.source.SourceBase`): :mod:`.dca1000_source`, :mod:`.demo_points`, :mod:`.pcd`,
:mod:`.camera`, :mod:`.ouster`, :mod:`.adc_file`; :func:`.open_source.open_source` picks one from a URI.
Recording: :mod:`.rig` (rig files), :mod:`.recorder`; emulators in :mod:`rfpose.drivers.emulators`;
``rfpose bench capture`` in :mod:`rfpose.app.benchmarking.capture`. See docs/capture.md.
"""
