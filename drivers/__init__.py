"""Device drivers: TI mmWave CLI, DCA1000 control and data, demo-firmware TLV stream, sources, emulators."""
