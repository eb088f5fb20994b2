"""Radar scattering of bodies: scattering centres on segment surfaces, aspect-dependent ellipsoid RCS,
Swerling-like fluctuation (or fixed echoes and a breathing chest: :class:`Breathing`), occlusion, and the
floor-bounce multipath by the image method.

Each segment carries fixed surface centres (Fibonacci-spread on the ellipsoid, rings on a capsule's side)
that move with it. A segment's monostatic RCS is the ellipsoid formula (Chen / Mahafza ``rcsellipsoid``)

    σ = π a²b²c² / (a² sin²θ cos²φ + b² sin²θ sin²φ + c² cos²θ)²

with (a, b, c) the semi-axes along (depth, lateral, long) and θ, φ the aspect angles of the line of sight in
the segment's frame (capsules use a = b = r, c = L/2 + r), times :data:`RCS_SCALE`, plus a diffuse term
:data:`DIFFUSE_SIGMA0` × the segment's projected area

    A = π √((bc l_a)² + (ac l_b)² + (ab l_c)²)      (l: unit line of sight in the segment frame).

The diffuse term stands for skin and clothing being rough at a 4 mm wavelength. Without it a thin limb
seen 30° off broadside loses ~15 dB and a raised, oblique arm all but vanishes (−37 dBsm for a waving
forearm against −18 dBsm hanging), which real radars do not show. The two constants put a standing
adult's whole-body RCS, averaged over aspect, near −5 dBsm at 77 GHz (measured range −10…0 dBsm;
calibration-annotation-simulation.md §5), about a quarter of it diffuse. The segment's σ is shared among
its centres that face the radar (weight cos² of the incidence); centres whose normal faces away, or whose
line of sight is blocked by another segment, return nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rfpose.sim.body import SEGMENTS, Segments
from rfpose.sim.geometry import cast, segments_to_primitives

#: Scales the specular ellipsoid formula; with the diffuse term it gives a realistic whole-body RCS
#: (see tests/sim/test_body.py).
RCS_SCALE = 0.22
#: Diffuse backscatter per m² of projected area (−7 dB).
DIFFUSE_SIGMA0 = 0.2
#: Floor reflection coefficient at 77 GHz, near grazing (magnitude, sign for the phase flip).
FLOOR_GAMMA = -0.45


#: the torso's index in :data:`SEGMENTS`: its centres carry the chest's breathing motion
TORSO = next(i for i, spec in enumerate(SEGMENTS) if spec.name == "torso")
#: quiet breathing at rest: chest-wall displacement 4–8 mm peak to peak, 12–20 breaths a minute (the ranges
#: radar vital-sign work assumes, e.g. Mercuri et al., Sci. Rep. 2022, doi:10.1038/s41598-022-11671-1)
BREATH_PEAK_TO_PEAK_M = (0.004, 0.008)
BREATHS_PER_MIN = (12.0, 20.0)


@dataclass(frozen=True)
class Breathing:
    """One person's breathing and fixed echo (the simulator's ``breathing`` body model): a sinusoidal
    chest-wall displacement along the torso's normals, and a phase and Swerling-like RCS factor per scattering
    centre that stay the same from frame to frame."""

    amplitude_m: float  # half the peak-to-peak displacement
    rate_hz: float
    phase_rad: float
    seed: int

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Breathing":
        return cls(float(rng.uniform(*BREATH_PEAK_TO_PEAK_M)) / 2, float(rng.uniform(*BREATHS_PER_MIN)) / 60,
                   float(rng.uniform(0, 2 * np.pi)), int(rng.integers(2**31)))

    def displacement_m(self, t_s: np.ndarray) -> np.ndarray:
        """Outward chest displacement (m) at true times ``t_s``."""
        return self.amplitude_m * np.sin(2 * np.pi * self.rate_hz * np.asarray(t_s, float) + self.phase_rad)

    def centre_echoes(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Unit phasors and RCS factors (gamma(2), mean 1) of the person's ``k`` scattering centres."""
        rng = np.random.default_rng(self.seed)
        return np.exp(2j * np.pi * rng.random(k)), rng.gamma(2.0, 0.5, k)


def _fibonacci(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def _capsule_local(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(u along the axis in [0, 1], angle)`` for n centres in rings."""
    rings = max(2, int(round(np.sqrt(n / 2))))
    per = int(np.ceil(n / rings))
    u = np.repeat((np.arange(rings) + 0.5) / rings, per)[:n]
    ang = (np.tile(np.arange(per), rings)[:n] + 0.5 * (np.repeat(np.arange(rings), per)[:n] % 2)) * 2 * np.pi / per
    return u, ang


def centre_layout() -> list[tuple[int, np.ndarray, np.ndarray | None]]:
    """Per segment: ``(segment index, local params, angles)`` — unit-sphere directions for ellipsoids,
    ``(u, angle)`` for capsules."""
    out = []
    for i, s in enumerate(SEGMENTS):
        if s.kind == "ellipsoid":
            out.append((i, _fibonacci(s.centres), None))
        else:
            u, ang = _capsule_local(s.centres)
            out.append((i, u, ang))
    return out


_LAYOUT = centre_layout()
CENTRES_PER_BODY = sum(s.centres for s in SEGMENTS)


def body_centres(seg: Segments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre positions ``(T, K, 3)``, outward normals ``(T, K, 3)`` and segment index ``(K,)`` for one body
    (or several concatenated: the layout repeats per 15 segments)."""
    nbody = seg.count // len(SEGMENTS)
    pos, nrm, sid = [], [], []
    for b in range(nbody):
        for i, loc, ang in _LAYOUT:
            s = b * len(SEGMENTS) + i
            ax = seg.axes[:, s]  # (T, 3, 3) rows depth, lateral, long
            if ang is None:
                r = seg.radii[:, s]  # (T, 3)
                p = seg.center[:, s, None, :] + np.einsum("kj,tj,tji->tki", loc, r, ax)
                n = np.einsum("kj,tj,tji->tki", loc, 1 / r, ax)
            else:
                a, bb = seg.a[:, s], seg.b[:, s]
                radial = np.cos(ang)[None, :, None] * ax[:, None, 0] + np.sin(ang)[None, :, None] * ax[:, None, 1]
                p = a[:, None] + loc[None, :, None] * (bb - a)[:, None] + seg.radius[s] * radial
                n = radial
            pos.append(p)
            nrm.append(n / np.linalg.norm(n, axis=-1, keepdims=True))
            sid.append(np.full(p.shape[1], s))
    if not pos:
        return np.zeros((seg.a.shape[0], 0, 3)), np.zeros((seg.a.shape[0], 0, 3)), np.zeros(0, int)
    return np.concatenate(pos, 1), np.concatenate(nrm, 1), np.concatenate(sid)


def segment_rcs(seg: Segments, radar_pos: np.ndarray, t_index: int = 0) -> np.ndarray:
    """Monostatic RCS (m²) of every segment seen from ``radar_pos`` at instant ``t_index``: scaled specular
    ellipsoid plus diffuse."""
    cap = seg.kind == 0
    length = np.linalg.norm(seg.b[t_index] - seg.a[t_index], axis=-1)
    semi = seg.radii[t_index].copy()
    semi[cap] = np.stack([seg.radius[cap], seg.radius[cap], length[cap] / 2 + seg.radius[cap]], -1)
    los = radar_pos - seg.center[t_index]
    los = los / np.linalg.norm(los, axis=-1, keepdims=True)
    l = np.einsum("sij,sj->si", seg.axes[t_index], los)  # (S, 3): components along depth, lateral, long
    a, b, c = semi[:, 0], semi[:, 1], semi[:, 2]
    denom = (a * a * l[:, 0] ** 2 + b * b * l[:, 1] ** 2 + c * c * l[:, 2] ** 2) ** 2
    projected = np.pi * np.sqrt((b * c * l[:, 0]) ** 2 + (a * c * l[:, 1]) ** 2 + (a * b * l[:, 2]) ** 2)
    return RCS_SCALE * np.pi * (a * b * c) ** 2 / denom + DIFFUSE_SIGMA0 * projected


def body_scatterers(seg: Segments, radar_pos: np.ndarray, rng: np.random.Generator | None, t_index: int = 0,
                    occlusion: bool = True, extra_occluders=()) -> tuple[np.ndarray, np.ndarray]:
    """Visible centres and their RCS for one frame: ``(visible mask (K,), rcs (K,))``.

    Visibility and the RCS split are evaluated at instant ``t_index`` (one per frame); with ``rng`` every
    centre's RCS is multiplied by a Swerling-III-like gamma(2) factor (mean 1).
    """
    pos, nrm, sid = body_centres(seg)
    p, n = pos[t_index], nrm[t_index]
    los = radar_pos - p
    dist = np.linalg.norm(los, axis=-1)
    cosi = np.einsum("ki,ki->k", n, los) / dist
    facing = cosi > 0
    w = np.where(facing, cosi**2, 0.0)
    wsum = np.bincount(sid, weights=w, minlength=seg.count)
    sig = segment_rcs(seg, radar_pos, t_index)
    rcs = np.where(facing, sig[sid] * w / np.maximum(wsum[sid], 1e-12), 0.0)
    visible = facing.copy()
    if occlusion and facing.any():
        prims = segments_to_primitives(seg, t_index) + list(extra_occluders)
        idx = np.nonzero(facing)[0]
        d = p[idx] - radar_pos
        t_hit, _, _ = cast(prims, radar_pos, d, skip=sid[idx])
        visible[idx] = t_hit > 1 - 1e-3
    rcs = np.where(visible, rcs, 0.0)
    if rng is not None:
        rcs = rcs * rng.gamma(2.0, 0.5, len(rcs))
    return visible, rcs


def occluded_by(prims, radar_pos: np.ndarray, points: np.ndarray) -> np.ndarray:
    """True where the straight line from ``radar_pos`` to a point is blocked by ``prims`` (e.g. a person in
    front of the wall)."""
    if not prims or len(points) == 0:
        return np.zeros(len(points), bool)
    t_hit, _, _ = cast(prims, radar_pos, points - radar_pos)
    return t_hit < 1 - 1e-3


def floor_images(pos: np.ndarray, floor_z: float) -> np.ndarray:
    """Mirror positions ``(..., 3)`` in the floor plane z = floor_z (image method)."""
    img = pos.copy()
    img[..., 2] = 2 * floor_z - pos[..., 2]
    return img
