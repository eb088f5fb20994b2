"""RGB cameras: pinhole + OpenCV distortion (k1, k2, p1, p2, k3), projection of keypoints, and a numpy
ray-casting renderer (Lambert-shaded body segments with skin/shirt/trousers/shoe colours, a face and hair
on the head, a textured room, a ChArUco board) that also returns the person mask. MediaPipe's BlazePose
finds the rendered people (measured in docs/annotation.md).

Camera frame is OpenCV's: x right, y down, z forward. ``T_rig_cam`` maps camera coordinates to the rig.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rfpose.sim.body import SKIN
from rfpose.sim.geometry import ELLIPSOID, RECT, cast, rect_uv
from rfpose.sim.threads import single_blas_thread

#: rig-from-camera rotation of a camera looking along the rig's +x (columns = camera axes in the rig)
R_RIG_CAM_FORWARD = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class CameraModel:
    width: int = 640
    height: int = 480
    fx: float = 520.0
    fy: float = 520.0
    cx: float = 319.5
    cy: float = 239.5
    distortion: tuple[float, float, float, float, float] = (-0.08, 0.02, 0.0005, -0.0003, 0.0)
    rate_hz: float = 30.0

    @property
    def K(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])

    def to_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "K": self.K.tolist(), "distortion": list(self.distortion),
                "rate_hz": self.rate_hz}


def distort(model: CameraModel, xn: np.ndarray) -> np.ndarray:
    """Normalised undistorted ``(N, 2)`` -> normalised distorted (OpenCV's model)."""
    k1, k2, p1, p2, k3 = model.distortion
    x, y = xn[:, 0], xn[:, 1]
    r2 = x * x + y * y
    radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack([xd, yd], -1)


def undistort(model: CameraModel, xd: np.ndarray, iters: int = 20) -> np.ndarray:
    """Inverse of :func:`distort` by fixed-point iteration (as OpenCV's undistortPoints)."""
    k1, k2, p1, p2, k3 = model.distortion
    x = xd.copy()
    for _ in range(iters):
        r2 = (x**2).sum(1)
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        dx = 2 * p1 * x[:, 0] * x[:, 1] + p2 * (r2 + 2 * x[:, 0] ** 2)
        dy = p1 * (r2 + 2 * x[:, 1] ** 2) + 2 * p2 * x[:, 0] * x[:, 1]
        x = np.stack([(xd[:, 0] - dx) / radial, (xd[:, 1] - dy) / radial], -1)
    return x


def project(model: CameraModel, T_rig_cam: np.ndarray, pts_rig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(..., 2)`` of rig-frame points ``(..., 3)`` and whether each is in front and inside the image."""
    shape = pts_rig.shape[:-1]
    p = pts_rig.reshape(-1, 3)
    R, t = T_rig_cam[:3, :3], T_rig_cam[:3, 3]
    pc = (p - t) @ R
    z = pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        xn = pc[:, :2] / z[:, None]
    uv = distort(model, xn) * [model.fx, model.fy] + [model.cx, model.cy]
    ok = (z > 0.05) & (uv[:, 0] >= 0) & (uv[:, 0] <= model.width - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= model.height - 1)
    return uv.reshape(*shape, 2), ok.reshape(shape)


_RAY_CACHE: dict = {}


def pixel_rays(model: CameraModel) -> np.ndarray:
    """Unit ray directions ``(H·W, 3)`` in the camera frame through every pixel centre (distortion inverted)."""
    if model not in _RAY_CACHE:
        v, u = np.mgrid[0:model.height, 0:model.width]
        xd = np.stack([(u.ravel() - model.cx) / model.fx, (v.ravel() - model.cy) / model.fy], -1)
        xn = undistort(model, xd)
        d = np.concatenate([xn, np.ones((len(xn), 1))], 1)
        _RAY_CACHE[model] = d / np.linalg.norm(d, axis=1, keepdims=True)
    return _RAY_CACHE[model]


@dataclass
class Rendered:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    mask: np.ndarray  # (H, W) int8: person index, -1 background
    depth_m: np.ndarray  # (H, W) float32 along the ray


def _texture(name: str, prim, pts: np.ndarray, base: np.ndarray, textures: dict) -> np.ndarray:
    if name == "wood":  # planks along x, 0.2 m wide, grain and per-plank tone
        plank = np.floor(pts[:, 1] / 0.2)
        tone = 0.85 + 0.15 * np.sin(plank * 12.9898) ** 2
        grain = 0.92 + 0.08 * np.sin(pts[:, 0] * 40 + plank * 3.1) * np.sin(pts[:, 0] * 7.3 + plank)
        joint = (np.abs(pts[:, 1] / 0.2 - np.round(pts[:, 1] / 0.2)) < 0.03) * -0.35 + 1
        seam = (np.abs(((pts[:, 0] + plank * 0.37) / 1.2) % 1.0) < 0.01) * -0.3 + 1
        return base * (tone * grain * joint * seam)[:, None]
    if name == "wall":
        check = ((np.floor(pts[:, 0] / 0.5) + np.floor(pts[:, 1] / 0.5) + np.floor(pts[:, 2] / 0.5)) % 2) * 0.05
        return base * (0.95 + check)[:, None]
    if name == "charuco" and "charuco" in textures:
        tex = textures["charuco"]
        uv = rect_uv(prim, pts)
        iu = np.clip((uv[:, 0] * tex.shape[1]).astype(int), 0, tex.shape[1] - 1)
        iv = np.clip((uv[:, 1] * tex.shape[0]).astype(int), 0, tex.shape[0] - 1)
        g = tex[iv, iu].astype(np.float64)
        return np.stack([g, g, g], -1)
    return base


_SUBPIXEL = (np.arange(4) + 0.5) / 4 - 0.5  # 4x4 sample offsets inside a pixel (px)
_RAY_STEP_CACHE: dict = {}


def _ray_steps(model: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """Change of the camera-frame ray per pixel step in u and in v, ``(H·W, 3)`` each (finite differences)."""
    if model not in _RAY_STEP_CACHE:
        d = pixel_rays(model).reshape(model.height, model.width, 3)
        _RAY_STEP_CACHE[model] = (np.gradient(d, axis=1).reshape(-1, 3), np.gradient(d, axis=0).reshape(-1, 3))
    return _RAY_STEP_CACHE[model]


_EDGE_DISTANCE_CACHE: dict = {}


def _edge_distance(tex: np.ndarray) -> np.ndarray:
    """Per texel, the distance (texels) to the nearest texel of another value."""
    key = (id(tex), tex.shape)
    if key not in _EDGE_DISTANCE_CACHE:
        from scipy.ndimage import distance_transform_edt

        edge = np.zeros(tex.shape, bool)
        edge[:, 1:] |= tex[:, 1:] != tex[:, :-1]
        edge[:, :-1] |= tex[:, 1:] != tex[:, :-1]
        edge[1:] |= tex[1:] != tex[:-1]
        edge[:-1] |= tex[1:] != tex[:-1]
        _EDGE_DISTANCE_CACHE[key] = distance_transform_edt(~edge)
    return _EDGE_DISTANCE_CACHE[key]


def _board_area_sampled(model: CameraModel, prim, o: np.ndarray, R: np.ndarray, sel: np.ndarray,
                        tex: np.ndarray) -> np.ndarray:
    """Grey texture of a flat textured rectangle averaged over each pixel's area (4x4 rays per pixel, each
    intersected with the rectangle's plane): a camera integrates light over its pixels, and point-sampled
    black/white edges put up to ±0.5 px of aliasing on every ChArUco corner, more than real sensors show.
    Pixels whose footprint lies inside one uniform patch of the texture take the centre sample."""
    n = prim.axes[2]
    texels_per_m = tex.shape[1] / (2 * prim.radii[0])

    def sample(d):
        t = ((prim.center - o) @ n) / (d @ n)
        uv = rect_uv(prim, o + d * t[:, None])
        iu = np.clip((uv[:, 0] * tex.shape[1]).astype(int), 0, tex.shape[1] - 1)
        iv = np.clip((uv[:, 1] * tex.shape[0]).astype(int), 0, tex.shape[0] - 1)
        return iv, iu, t

    d0 = pixel_rays(model)[sel] @ R.T
    iv, iu, t = sample(d0)
    g = tex[iv, iu].astype(np.float64)
    cos = np.abs(d0 @ n)
    footprint = t * np.linalg.norm(_ray_steps(model)[0][sel], axis=1) / np.maximum(cos, 0.05) * texels_per_m
    mixed = np.nonzero(_edge_distance(tex)[iv, iu] <= footprint + 1.5)[0]
    if len(mixed):
        du, dv = (s[sel[mixed]] for s in _ray_steps(model))
        dc = pixel_rays(model)[sel[mixed]]
        d = (dc[:, None, None] + _SUBPIXEL[None, :, None, None] * du[:, None, None] +
             _SUBPIXEL[None, None, :, None] * dv[:, None, None]).reshape(-1, 3) @ R.T
        iv, iu, _ = sample(d)
        g[mixed] = tex[iv, iu].astype(np.float64).reshape(len(mixed), -1).mean(1)
    return np.repeat(g[:, None], 3, axis=1)


HAIR_RGB = ((28, 22, 18), (62, 42, 28), (105, 72, 40), (150, 118, 72), (90, 90, 88))


def hair_rgb(person_palette: dict) -> tuple[int, int, int]:
    """A subject's hair colour, fixed by their clothes (no extra random draw, so seeded motion is unchanged)."""
    return HAIR_RGB[int(sum(person_palette.get(1, (0, 0, 0)))) % len(HAIR_RGB)]


def _face(prim, pts: np.ndarray, skin: np.ndarray, hair: tuple[int, int, int]) -> np.ndarray:
    """Hair, eyes, brows, nose shadow, mouth and ears painted on the head ellipsoid (axes rows: forward,
    left, up). A featureless head gives a detector nothing to tell front from back, so it swaps left and
    right on people facing the camera (docs/annotation.md)."""
    q = (pts - prim.center) @ prim.axes.T / prim.radii  # unit-sphere coordinates: forward, left, up
    f, l_, u = q[:, 0], q[:, 1], q[:, 2]
    col = skin.copy()
    front = f > 0.35
    # eyes: white with a dark iris, brows above; nose: a shaded ridge ending in darker nostrils; mouth
    for side in (-1.0, 1.0):
        dl, du = l_ - side * 0.36, u - 0.12
        white = front & ((dl / 0.17) ** 2 + (du / 0.085) ** 2 < 1)
        col[white] = (235, 232, 225)
        col[front & (dl**2 + du**2 < 0.075**2)] = (40, 30, 25)
        brow = front & ((dl / 0.2) ** 2 + ((u - 0.3) / 0.045) ** 2 < 1)
        col[brow] = np.asarray(hair, float) * 0.8
    nose = front & (np.abs(l_ + 0.05) < 0.07) & (u < 0.05) & (u > -0.22)
    col[nose] = skin[nose] * 0.82
    col[front & (np.abs(l_) < 0.14) & (np.abs(u + 0.25) < 0.04)] *= 0.7
    mouth = front & ((l_ / 0.26) ** 2 + ((u + 0.47) / 0.06) ** 2 < 1)
    col[mouth] = (150, 60, 60)
    ear = (np.abs(l_) > 0.8) & ((f + 0.05) ** 2 / 0.2**2 + u**2 / 0.28**2 < 1)
    col[ear] = skin[ear] * 0.85
    # hairline: high over the forehead, down to the nape at the back, above the ears at the sides
    hairline = np.interp(f, [-1.0, -0.5, 0.0, 0.4, 1.0], [-0.55, -0.5, 0.3, 0.55, 0.6])
    col[u > hairline] = hair
    return col


@dataclass
class RoomImage:
    """What a fixed camera sees of the static room, per pixel (``H·W``): ray distance ``t`` (inf: nothing),
    room primitive index ``idx`` (-1), unit normal ``nrm (H·W, 3)`` and shaded colour ``rgb (H·W, 3)``.
    Computed once per camera and reused for every frame (:meth:`rfpose.sim.rig.SimulatedRig.render`)."""

    t: np.ndarray
    idx: np.ndarray
    nrm: np.ndarray
    rgb: np.ndarray


def render(model: CameraModel, T_rig_cam: np.ndarray, room_prims, body_prims, palette: dict,
           person_palettes: list[dict], textures: dict | None = None,
           light_dir=(0.3, 0.2, 0.93), ambient: float = 0.35, room: RoomImage | None = None) -> Rendered:
    """Ray-cast one image. Body primitives are tested only for the pixels inside their bounding cone;
    ``room`` (from :func:`render_room` with the same camera, room and light) skips casting the room again."""
    with single_blas_thread():
        if room is None:
            room = _render_room(model, T_rig_cam, room_prims, palette, textures or {}, light_dir, ambient)
        return _render(model, T_rig_cam, room, len(room_prims), body_prims, palette, person_palettes,
                       textures or {}, light_dir, ambient)


def render_room(model: CameraModel, T_rig_cam: np.ndarray, room_prims, palette: dict, textures: dict | None = None,
                light_dir=(0.3, 0.2, 0.93), ambient: float = 0.35) -> RoomImage:
    """The static room as ``model`` at pose ``T_rig_cam`` sees it (see :class:`RoomImage`)."""
    with single_blas_thread():
        return _render_room(model, T_rig_cam, room_prims, palette, textures or {}, light_dir, ambient)


def _shade(nrm: np.ndarray, d: np.ndarray, light_dir, ambient: float) -> np.ndarray:
    L = np.asarray(light_dir, float)
    L = L / np.linalg.norm(L)
    # headlight term so surfaces facing the camera are never black
    return ambient + 0.45 * np.clip(nrm @ L, 0, None) + 0.3 * np.clip(-np.einsum("ij,ij->i", nrm, d), 0, None)


def _colour(rgb, sel, model, p, pts, shade, o, R, base, textures, hair=None) -> None:
    """Write the shaded colour of primitive ``p`` into ``rgb[sel]`` (its hit points ``pts``)."""
    col = np.broadcast_to(np.asarray(base, float), (len(sel), 3)).copy()
    if hair is not None and p.kind == ELLIPSOID and p.material == SKIN:  # the only skin ellipsoid: a head
        col = _face(p, pts, col, hair)
    if p.kind == RECT and p.texture in textures:  # printed targets: the ChArUco board, the reflector's marker
        rgb[sel] = _board_area_sampled(model, p, o, R, sel, textures[p.texture]) * (0.75 + 0.25 * shade[:, None])
        return
    if p.texture:
        col = _texture(p.texture, p, pts, col, textures)
    rgb[sel] = col * shade[:, None]


def _by_primitive(idx: np.ndarray, first: int, count: int):
    """``(i, pixels)`` for primitives ``first .. first+count-1`` that own at least one pixel of ``idx``."""
    order = np.argsort(idx, kind="stable")
    bounds = np.searchsorted(idx[order], np.arange(first, first + count + 1))
    for k in range(count):
        sel = order[bounds[k]:bounds[k + 1]]
        if len(sel):
            yield first + k, sel


def _render_room(model, T_rig_cam, room_prims, palette, textures, light_dir, ambient) -> RoomImage:
    R, o = T_rig_cam[:3, :3], T_rig_cam[:3, 3]
    d = pixel_rays(model) @ R.T
    t, idx, nrm = cast(list(room_prims), o, d)
    hit = idx >= 0
    pts = o + d * np.where(hit, t, 0)[:, None]
    shade = _shade(nrm, d, light_dir, ambient)
    rgb = np.zeros((len(d), 3))
    for i, sel in _by_primitive(idx, 0, len(room_prims)):
        p = room_prims[i]
        _colour(rgb, sel, model, p, pts[sel], shade[sel], o, R, palette.get(p.material) or (128, 128, 128), textures)
    rgb[~hit] = (20, 20, 25)
    return RoomImage(t, idx, nrm, rgb)


def _render(model, T_rig_cam, room: RoomImage, n_room: int, body_prims, palette, person_palettes, textures,
            light_dir, ambient):
    d_c = pixel_rays(model)
    R, o = T_rig_cam[:3, :3], T_rig_cam[:3, 3]
    d = d_c @ R.T
    n_pix = len(d)
    rays = []
    for p in body_prims:  # test a body segment only for the pixels inside its bounding cone
        cen = p.center if p.a is None else 0.5 * (p.a + p.b)
        if p.a is not None:
            rad = 0.5 * np.linalg.norm(p.b - p.a) + p.radius
        else:  # an ellipsoid's largest radius; a box's or rectangle's corner
            rad = float(np.max(p.radii)) if p.kind == ELLIPSOID else float(np.linalg.norm(p.radii))
        v = cen - o
        dist = np.linalg.norm(v)
        if dist <= rad:
            rays.append(np.arange(n_pix))
            continue
        cos_lim = np.cos(min(np.pi / 2, np.arcsin(min(1.0, rad / dist)) + 0.01))
        rays.append(np.nonzero(d @ (v / dist) >= cos_lim)[0])
    t, idx, nrm = cast(list(body_prims), o, d, rays=rays, start=(room.t, room.idx, room.nrm), first_index=n_room)
    owners = np.array([-1] * n_room + [p.owner for p in body_prims] + [-1])
    owner = owners[idx]
    rgb = room.rgb.copy()
    body = np.nonzero(idx >= n_room)[0]
    if len(body):
        pts = o + d[body] * t[body, None]
        shade = _shade(nrm[body], d[body], light_dir, ambient)
        for i, sub in _by_primitive(idx[body], n_room, len(body_prims)):
            p = body_prims[i - n_room]
            sel = body[sub]
            if p.owner >= 0:
                pal = person_palettes[p.owner]
                _colour(rgb, sel, model, p, pts[sub], shade[sub], o, R, pal[p.material], textures, hair_rgb(pal))
            else:
                base = palette.get(p.material) or (128, 128, 128)
                _colour(rgb, sel, model, p, pts[sub], shade[sub], o, R, base, textures)
    img = np.clip(rgb, 0, 255).astype(np.uint8).reshape(model.height, model.width, 3)
    return Rendered(img, owner.astype(np.int8).reshape(model.height, model.width),
                    np.where(idx >= 0, t, np.inf).astype(np.float32).reshape(model.height, model.width))


def charuco_texture(squares=(7, 5), square_m=0.08, marker_m=0.06, px_per_square=80) -> tuple[np.ndarray, object]:
    """The board image (uint8 grey) and the ``cv2.aruco.CharucoBoard`` (DICT_5X5_100). Needs OpenCV's aruco."""
    try:
        import cv2

        cv2.aruco.getPredefinedDictionary  # noqa: B018  (aruco is missing from some OpenCV builds)
    except (ImportError, AttributeError) as e:  # pragma: no cover
        from rfpose.errors import RfposeError

        raise RfposeError("the ChArUco target needs opencv (pip install opencv-python-headless)") from e
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_5X5_100)
    board = cv2.aruco.CharucoBoard(tuple(squares), square_m, marker_m, dictionary)
    img = board.generateImage((squares[0] * px_per_square, squares[1] * px_per_square), marginSize=0)
    return img, board
