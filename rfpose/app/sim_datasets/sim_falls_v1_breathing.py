"""sim-falls-v1-breathing: sim-falls-v1's sessions with the simulator's breathing body model
(``rfpose simulate --breathing``): every scattering centre of a body keeps its echo from frame to frame and the
chest moves with the person's breathing, so someone lying still after a fall shows the radar nothing but their
breathing, as a real room would (sim-falls-v1 redraws the body's echoes every frame). Same subjects, actions,
takes, lengths and split; the fall benchmark's check that minor-motion detection works from breathing alone
(docs/monitor.md, "Fall benchmark").
"""

from __future__ import annotations

from dataclasses import replace

from rfpose.app.sim_datasets.sim_falls_v1 import PRESET as FALLS

PRESET = replace(FALLS, name="sim-falls-v1-breathing",
                 description=FALLS.description + "; breathing body model (fixed echoes, breathing chest)",
                 breathing=True)
