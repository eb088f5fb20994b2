"""The application layer: commands and services that combine the stages (demo, reports, live pipeline,
benchmarks, the room monitor). Only this layer and ``rfpose.cli`` import everything."""
