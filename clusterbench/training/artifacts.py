"""PNG grids of generated samples (Dual-AAE Figs. 7 and 8) that say what their rows are.

* :func:`tile_images` — N x C x H x W -> one image with 1-pixel white gutters; torchvision's
  ``make_grid`` when torchvision is installed (an optional dependency, ``clusterbench[vision]``),
  else the same tiling in numpy (identical pixels; tests compare the two).
* :func:`save_png` — an array as a bare PNG (no labels), atomically.
* :func:`save_grid_png` — a tiled grid drawn with matplotlib with a label per row (e.g.
  "cluster 3"), a title that states what rows and columns are, optional column tick labels
  (traversal values), and the same text in the PNG's ``Title``/``Description`` metadata so that
  tools (and tests) can read it without OCR.
* :func:`generation_artifacts` — the two figures of a conditional generator: samples per cluster
  and one traversal per style/noise dimension. With many clusters (K > :data:`MAX_GRID_ROWS`,
  e.g. COIL-100's 100) one row per cluster is unreadable, so: an overview with one sample per
  cluster on a near-square grid (10 x 10 for K = 100), the per-cluster rows in pages of
  :data:`PAGE_ROWS` clusters, and traversals of the first :data:`PAGE_ROWS` clusters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from clusterbench.fsutil import atomic_path

if TYPE_CHECKING:  # only for the annotation
    from clusterbench.nn.dual_aae import ArchSpec

PAD = 1  # white gutter between tiles, pixels
#: Up to this many clusters, every grid has one row per cluster; above it, see the module docstring.
MAX_GRID_ROWS = 20
#: Clusters (rows) per page of the per-cluster grids when K > MAX_GRID_ROWS.
PAGE_ROWS = 10
#: Samples generated per call of ``generate`` in the grids (bounds the memory of 128 x 128 images).
GENERATE_BATCH = 200


def _unit(images: np.ndarray) -> np.ndarray:
    """Into [0, 1]: data already there unchanged, otherwise min-max scaled over the whole batch."""
    images = np.asarray(images, dtype=np.float32)
    lo, hi = float(images.min()), float(images.max())
    if lo < 0 or hi > 1:
        images = (images - lo) / max(hi - lo, 1e-12)
    return images


def _tile_numpy(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    n, c, h, w = images.shape
    grid = np.ones((rows * (h + PAD) + PAD, cols * (w + PAD) + PAD, c), dtype=np.float32)
    for i in range(min(n, rows * cols)):
        r, q = divmod(i, cols)
        y0, x0 = PAD + r * (h + PAD), PAD + q * (w + PAD)
        grid[y0:y0 + h, x0:x0 + w] = images[i].transpose(1, 2, 0)
    return grid


def tile_images(images: np.ndarray, rows: int, cols: int, *, use_torchvision: bool | None = None) -> np.ndarray:
    """rows*cols x C x H x W in any range -> (rows*(H+1)+1) x (cols*(W+1)+1) [x 3] image in [0, 1].

    Row-major: image ``i`` goes to row ``i // cols``. Fewer images than cells leave white tiles.
    Grey (C = 1) gives a 2-D array, colour the first three channels. ``use_torchvision``: None =
    torchvision's ``make_grid`` if installed, else numpy; True / False force one.
    """
    images = _unit(images)
    n, c, h, w = images.shape
    if use_torchvision is None:
        import importlib.util  # optional dependency: probe without importing it

        use_torchvision = importlib.util.find_spec("torchvision") is not None
    if use_torchvision:
        # optional dependency (clusterbench[vision])
        from torchvision.utils import make_grid

        full = np.ones((rows * cols, c, h, w), dtype=np.float32)
        full[:min(n, rows * cols)] = images[:rows * cols]
        grid = make_grid(torch.from_numpy(full), nrow=cols, padding=PAD, pad_value=1.0).numpy()
        grid = grid[:c].transpose(1, 2, 0)  # make_grid repeats a grey channel three times
    else:
        grid = _tile_numpy(images, rows, cols)
    return grid[..., 0] if c == 1 else grid[..., :3]


def _pyplot():
    import matplotlib  # lazily: a headless backend must be chosen before pyplot is imported

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def save_png(path: Path, image: np.ndarray, *, upscale: int = 1) -> Path:
    """Write an H x W (grey) or H x W x 3 array in [0, 1] as a bare PNG (no labels), atomically."""
    _pyplot()
    from matplotlib import image as mpimg  # after the backend is chosen

    if upscale > 1:
        image = np.kron(image, np.ones((upscale, upscale) + (1,) * (image.ndim - 2)))
    with atomic_path(path) as tmp:
        mpimg.imsave(tmp, np.clip(image, 0, 1), cmap="gray" if image.ndim == 2 else None, format="png")
    return Path(path)


def save_grid_png(path: Path, images: np.ndarray, rows: int, cols: int, *, row_labels: list[str],
                  title: str, xlabel: str = "", col_labels: list[str] | None = None, scale: int = 1) -> Path:
    """A ``rows x cols`` grid of ``images`` (rows*cols x C x H x W) with a label left of each row,
    ``title`` above and ``xlabel`` / ``col_labels`` below, as a PNG (atomically). The title and
    xlabel are also stored as the PNG's ``Title`` and ``Description`` text chunks.

    ``scale``: screen pixels per image pixel (the grid's resolution is kept, no smoothing).
    """
    if len(row_labels) != rows:
        raise ValueError(f"{rows} rows but {len(row_labels)} row labels")
    grid = tile_images(images, rows, cols)
    h, w = images.shape[2], images.shape[3]
    plt = _pyplot()
    dpi = 100
    gh, gw = grid.shape[0] * scale / dpi, grid.shape[1] * scale / dpi
    fig, ax = plt.subplots(figsize=(gw + 1.4, gh + 1.0), dpi=dpi)
    ax.imshow(np.clip(grid, 0, 1), cmap="gray" if grid.ndim == 2 else None, vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_yticks([PAD + r * (h + PAD) + (h - 1) / 2 for r in range(rows)], row_labels, fontsize=7)
    if col_labels is not None:
        ax.set_xticks([PAD + q * (w + PAD) + (w - 1) / 2 for q in range(cols)], col_labels, fontsize=7)
    else:
        ax.set_xticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=8)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=7)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight",
                    metadata={"Title": title, "Description": xlabel})
    plt.close(fig)
    return Path(path)


@torch.no_grad()
def generation_artifacts(generate: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                         spec: ArchSpec, workdir: Path, *, device: torch.device,
                         n_per_cluster: int = 10, steps: int = 10, seed: int = 0, noise_std: float = 1.0,
                         span: tuple[float, float] = (-2.0, 2.0), max_traversals: int | None = None) -> dict[str, Path]:
    """Fig. 7 (one row per cluster, random style/noise) and Fig. 8 (each style/noise dimension
    traversed from -2 to 2 with the others at 0, one row per cluster) as labelled PNGs under
    ``workdir``: ``samples_per_cluster.png``, ``traversal_h<j>.png``, ``traversal_z<j>.png``.

    ``generate(y_onehot: B x K, h: B x dh, z: B x dz) -> B x C x H x W``. Image data only ({}
    otherwise). Row k of every grid is cluster k (one-hot code e_k, 0-based as in the records).
    ``noise_std`` scales the random style/noise (the prior's sigma; DLS: 0.1), ``span`` is the
    traversal range (DLS Fig. 4: [-0.5, 0.5]), ``max_traversals`` caps the number of traversed
    dimensions (the first ones; None: all).
    """
    if not spec.is_image:
        return {}
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    K, dh, dz = spec.n_clusters, spec.style_dim, spec.noise_dim
    scale = max(1, 56 // spec.sample_shape[1])
    out: dict[str, Path] = {}
    eye = torch.eye(K)

    def gen(y: torch.Tensor, h: torch.Tensor, z: torch.Tensor) -> np.ndarray:
        return np.concatenate([
            generate(y[i:i + GENERATE_BATCH].to(device), h[i:i + GENERATE_BATCH].to(device),
                     z[i:i + GENERATE_BATCH].to(device)).float().cpu().numpy()
            for i in range(0, len(y), GENERATE_BATCH)])

    y = eye.repeat_interleave(n_per_cluster, 0)
    h = torch.randn(K * n_per_cluster, dh, generator=g) * noise_std
    z = torch.randn(K * n_per_cluster, dz, generator=g) * noise_std
    imgs = gen(y, h, z)
    draws = f"{n_per_cluster} draws of style h and noise z ~ N(0, {noise_std:g}² I)"
    many = K > MAX_GRID_ROWS
    pages = [list(range(a, min(a + PAGE_ROWS, K))) for a in range(0, K, PAGE_ROWS)] if many else [list(range(K))]
    if many:  # overview: the first draw of every cluster, tile (r, j) = cluster r * cols + j
        cols = math.ceil(math.sqrt(K))
        nrows = math.ceil(K / cols)
        out["samples_one_per_cluster"] = save_grid_png(
            Path(workdir) / "samples_one_per_cluster.png", imgs[::n_per_cluster], nrows, cols, scale=scale,
            row_labels=[f"{r * cols}-{min(r * cols + cols, K) - 1}" for r in range(nrows)],
            col_labels=[f"+{j}" for j in range(cols)],
            title=f"One sample per cluster, {K} clusters: tile (row r, column +j) = cluster r*{cols} + j",
            xlabel="the first draw of each cluster's row in samples_per_cluster_*.png")
    for page in pages:
        name = "samples_per_cluster" if not many else f"samples_per_cluster_{page[0]}-{page[-1]}"
        out[name] = save_grid_png(
            Path(workdir) / f"{name}.png", imgs[page[0] * n_per_cluster:(page[-1] + 1) * n_per_cluster],
            len(page), n_per_cluster, row_labels=[f"cluster {k}" for k in page], scale=scale,
            title="Samples per cluster: row k = cluster k (code y = e_k)"
                  + (f"; clusters {page[0]}-{page[-1]} of {K}" if many else ""),
            xlabel=f"columns: {draws}")
    shown = pages[0]  # traversals: every cluster, or the first page's when there are many
    lo, hi = float(span[0]), float(span[1])
    values = torch.linspace(lo, hi, steps)
    for j in range(dh + dz if max_traversals is None else min(dh + dz, int(max_traversals))):
        code = torch.zeros(len(shown) * steps, dh + dz)
        code[:, j] = values.repeat(len(shown))
        yy = eye[shown].repeat_interleave(steps, 0)
        imgs = gen(yy, code[:, :dh], code[:, dh:])
        dim = f"h{j + 1}" if j < dh else f"z{j - dh + 1}"
        kind = "style" if j < dh else "noise"
        name = f"traversal_{dim}"
        out[name] = save_grid_png(
            Path(workdir) / f"{name}.png", imgs, len(shown), steps, row_labels=[f"cluster {k}" for k in shown],
            scale=scale, col_labels=[f"{v:.1f}" for v in values.tolist()],
            title=f"Traversal of {kind} dimension {dim}: row k = cluster k (code y = e_k)"
                  + (f"; clusters {shown[0]}-{shown[-1]} of {K}" if many else ""),
            xlabel=f"columns: {dim} from {lo:g} to {hi:g}, every other style/noise dimension 0")
    return out
