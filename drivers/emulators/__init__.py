"""Device emulators that speak the real protocols over real OS interfaces (UDP on loopback, pty pairs),
so the drivers run unchanged against them: a mmWave board's CLI, a DCA1000EVM, a demo-firmware UART."""
