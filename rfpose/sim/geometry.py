"""Ray casting against the primitives of a scene: capsules, ellipsoids, oriented boxes and rectangles.

One engine serves LiDAR (rays from the sensor), the camera (one ray per pixel) and the radar's
occlusion test (a ray from the radar to each scattering centre). All functions are vectorised over rays
and loop over primitives (a scene has tens of them). Positions in metres; directions need not be unit
(``t`` is then in units of the direction's length).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rfpose.sim.threads import single_blas_thread

CAPSULE, ELLIPSOID, BOX, RECT = 0, 1, 2, 3


@dataclass
class Primitive:
    """One shape. ``kind`` is CAPSULE (``a``, ``b``, ``radius``), ELLIPSOID (``center``, ``axes`` rows =
    unit axes, ``radii``), BOX (``center``, ``axes``, ``radii`` = half extents) or RECT (``center``,
    ``axes`` rows = (u, v, normal), ``radii`` = (half u, half v, 0)). ``material`` indexes a palette;
    ``owner`` is the person index or -1 for the room; ``texture`` names a procedural texture."""

    kind: int
    center: np.ndarray = field(default_factory=lambda: np.zeros(3))
    axes: np.ndarray = field(default_factory=lambda: np.eye(3))
    radii: np.ndarray = field(default_factory=lambda: np.ones(3))
    a: np.ndarray | None = None
    b: np.ndarray | None = None
    radius: float = 0.0
    material: int = 0
    owner: int = -1
    texture: str = ""
    name: str = ""


def intersect(p: Primitive, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit ``t > 0`` of rays ``o + t·d`` (``(N, 3)`` each, or o ``(3,)``) and the outward unit normal.

    Misses give ``t = inf``.
    """
    if p.kind == CAPSULE:
        return _capsule(p.a, p.b, p.radius, o, d)
    if p.kind == ELLIPSOID:
        return _ellipsoid(p.center, p.axes, p.radii, o, d)
    if p.kind == BOX:
        return _box(p.center, p.axes, p.radii, o, d)
    return _rect(p.center, p.axes, p.radii, o, d)


def _capsule(a, b, r, o, d):
    ba = b - a
    oa = o - a
    baba = ba @ ba
    bard = d @ ba
    baoa = oa @ ba if oa.ndim > 1 else np.full(len(d), oa @ ba)
    rdoa = np.einsum("ij,ij->i", d, np.broadcast_to(oa, d.shape))
    oaoa = np.einsum("ij,ij->i", np.broadcast_to(oa, d.shape), np.broadcast_to(oa, d.shape))
    dd = np.einsum("ij,ij->i", d, d)
    A = baba * dd - bard * bard
    B = baba * rdoa - baoa * bard
    C = baba * oaoa - baoa * baoa - r * r * baba
    h = B * B - A * C
    t = np.full(len(d), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        sq = np.sqrt(np.maximum(h, 0))
        tc = (-B - sq) / A
        y = baoa + tc * bard
        body = (h >= 0) & (A > 1e-12) & (y > 0) & (y < baba) & (tc > 1e-9)
        t = np.where(body, tc, t)
        # caps: spheres at a or b
        for cen in (a, b):
            oc = o - cen
            occ = np.broadcast_to(oc, d.shape)
            bb = np.einsum("ij,ij->i", d, occ)
            cc = np.einsum("ij,ij->i", occ, occ) - r * r
            hh = bb * bb - dd * cc
            ts = (-bb - np.sqrt(np.maximum(hh, 0))) / dd
            ok = (hh >= 0) & (ts > 1e-9) & ~body
            t = np.where(ok & (ts < t), ts, t)
    hit = np.isfinite(t)
    pts = np.broadcast_to(o, d.shape) + d * np.where(hit, t, 0)[:, None]
    u = np.clip(((pts - a) @ ba) / baba, 0, 1)
    n = pts - (a + u[:, None] * ba)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return t, n


def _ellipsoid(c, axes, radii, o, d):
    # into the unit-sphere frame
    ol = ((np.broadcast_to(o, d.shape) - c) @ axes.T) / radii
    dl = (d @ axes.T) / radii
    aa = np.einsum("ij,ij->i", dl, dl)
    bb = np.einsum("ij,ij->i", ol, dl)
    cc = np.einsum("ij,ij->i", ol, ol) - 1
    h = bb * bb - aa * cc
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (-bb - np.sqrt(np.maximum(h, 0))) / aa
    t = np.where((h >= 0) & (t > 1e-9), t, np.inf)
    hit = np.isfinite(t)
    pl = ol + dl * np.where(hit, t, 0)[:, None]
    n = (pl / radii) @ axes
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    return t, n


def _box(c, axes, half, o, d):
    ol = (np.broadcast_to(o, d.shape) - c) @ axes.T
    dl = d @ axes.T
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / np.where(np.abs(dl) < 1e-12, 1e-12, dl)
        t1 = (-half - ol) * inv
        t2 = (half - ol) * inv
    tmin = np.minimum(t1, t2)
    tmax = np.maximum(t1, t2)
    tn = tmin.max(axis=1)
    tf = tmax.min(axis=1)
    t = np.where((tn <= tf) & (tn > 1e-9), tn, np.inf)
    axis = tmin.argmax(axis=1)
    sign = -np.sign(dl[np.arange(len(d)), axis])
    nl = np.zeros_like(dl)
    nl[np.arange(len(d)), axis] = sign
    return t, nl @ axes


def _rect(c, axes, half, o, d):
    u, v, nrm = axes
    denom = d @ nrm
    oc = o - c
    with np.errstate(divide="ignore", invalid="ignore"):
        t = -(oc @ nrm) / denom
    t = np.where(np.isfinite(t) & (t > 1e-9), t, np.inf)
    tt = np.where(np.isfinite(t), t, 0.0)
    pu = oc @ u + tt * (d @ u)
    pv = oc @ v + tt * (d @ v)
    t = np.where((np.abs(pu) <= half[0]) & (np.abs(pv) <= half[1]), t, np.inf)
    n = np.where((denom < 0)[:, None], nrm, -nrm)
    return t, n


def cast(prims: list[Primitive], o: np.ndarray, d: np.ndarray, skip: np.ndarray | None = None,
         rays: list[np.ndarray | None] | None = None, start: tuple | None = None, first_index: int = 0):
    """Nearest hit over all primitives: ``(t (N,), index (N,) or -1, normal (N, 3))``.

    ``skip``: optional ``(N,)`` primitive index each ray ignores (its own surface). ``rays``: optional
    per-primitive subsets of ray indices to test (culling); None tests all rays. ``start``: optional
    ``(t, index, normal)`` of hits already found (another cast over other primitives); a primitive replaces
    one only if strictly nearer. Indices of ``prims`` are numbered from ``first_index``.
    """
    with single_blas_thread():
        return _cast(prims, o, d, skip, rays, start, first_index)


def _cast(prims, o, d, skip, rays, start=None, first_index=0):
    n = len(d)
    if start is None:
        best_t, best_i, best_n = np.full(n, np.inf), np.full(n, -1), np.zeros((n, 3))
    else:
        best_t, best_i, best_n = (np.array(a, copy=True) for a in start)
    for i, p in enumerate(prims, start=first_index):
        sel = None if rays is None else rays[i - first_index]
        if sel is None:
            t, nrm = intersect(p, o, d)
            if skip is not None:
                t = np.where(skip == i, np.inf, t)
            closer = np.nonzero(t < best_t)[0]
            best_t[closer] = t[closer]
        else:
            if not len(sel):
                continue
            oo = o if np.ndim(o) == 1 else o[sel]
            t, nrm = intersect(p, oo, d[sel])
            if skip is not None:
                t = np.where(skip[sel] == i, np.inf, t)
            c = np.nonzero(t < best_t[sel])[0]
            closer = sel[c]
            best_t[closer] = t[c]
            nrm = nrm[c]
            best_i[closer] = i
            best_n[closer] = nrm
            continue
        best_i[closer] = i
        best_n[closer] = nrm[closer]
    return best_t, best_i, best_n


def rect_uv(p: Primitive, points: np.ndarray) -> np.ndarray:
    """Texture coordinates in [0, 1]² of points on a RECT (u right, v down the rectangle)."""
    u, v, _ = p.axes
    rel = points - p.center
    return np.stack([(rel @ u) / (2 * p.radii[0]) + 0.5, (rel @ v) / (2 * p.radii[1]) + 0.5], axis=-1)


def segments_to_primitives(seg, time_index: int) -> list[Primitive]:
    """Primitives of body segments (:class:`rfpose.sim.body.Segments`) at one instant."""
    out = []
    for s in range(seg.count):
        if seg.kind[s] == 0:
            out.append(Primitive(CAPSULE, a=seg.a[time_index, s], b=seg.b[time_index, s], radius=float(seg.radius[s]),
                                 material=int(seg.material[s]), owner=int(seg.person[s]), name="body"))
        else:
            out.append(Primitive(ELLIPSOID, center=seg.center[time_index, s], axes=seg.axes[time_index, s],
                                 radii=seg.radii[time_index, s], material=int(seg.material[s]),
                                 owner=int(seg.person[s]), name="body"))
    return out
