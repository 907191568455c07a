"""Time and peak memory of the image preprocessors (prints figures; not a test).

    python benchmarks/preprocess_images.py fashion-mnist   # real files from Debian's dataset-fashion-mnist
    python benchmarks/preprocess_images.py stl10-images    # a generated full-size (13,000) STL-10 archive
    python benchmarks/preprocess_images.py stl10-features [N]  # ResNet-50 throughput, random weights, N images

Each run is one process, so "peak RSS" is the peak of that preprocessing alone (plus imports).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from clusterbench.data.preprocessors import PREPROCESSORS  # noqa: E402
from clusterbench.data.registry import get_spec  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_fashion() -> None:
    d = Path("/usr/share/datasets/fashion-mnist")
    spec = get_spec("fashion-mnist")
    files = {f.role: d / f.name for f in spec.files}
    t = time.perf_counter()
    p = PREPROCESSORS[spec.preprocessor](files, spec=spec, **spec.options)
    dt = time.perf_counter() - t
    print(f"fashion-mnist idx: {p.X.shape} in {dt:.2f} s, classes {np.bincount(p.y).tolist()}, "
          f"range [{p.X.min()}, {p.X.max()}], peak RSS {peak_rss_mb():.0f} MB")


def bench_stl10_images() -> None:
    from fakes_images import fake_stl10

    spec = get_spec("stl10-images")
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        # Low-entropy content keeps gzip fast; the preprocessor's work does not depend on it.
        tile = rng.integers(0, 256, size=(1, 3, 96, 96), dtype=np.uint8)
        images = {"train": np.repeat(tile, 5000, axis=0), "test": np.repeat(tile, 8000, axis=0)}
        t = time.perf_counter()
        files = fake_stl10(Path(tmp), dataset="stl10-images", images=images)
        del images
        print(f"(generated a 13,000-image archive of {files['archive'].stat().st_size / 1e6:.0f} MB in "
              f"{time.perf_counter() - t:.1f} s; peak RSS so far {peak_rss_mb():.0f} MB)")
        import tracemalloc

        tracemalloc.start()  # numpy reports its buffers to tracemalloc
        t = time.perf_counter()
        p = PREPROCESSORS[spec.preprocessor](files, spec=spec, **spec.options)
        dt = time.perf_counter() - t
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(f"stl10-images: {p.X.shape} ({p.X.nbytes / 1e9:.2f} GB float32) in {dt:.1f} s, "
          f"peak traced allocation during preprocessing {peak / 1e9:.2f} GB")


def bench_stl10_features(n: int) -> None:
    from clusterbench.data.preprocessors.features import extract_features, resnet50_trunk, resolve_device

    device = resolve_device("auto")
    trunk, _ = resnet50_trunk(weights="random")
    images = np.random.default_rng(0).integers(0, 256, size=(n, 3, 96, 96), dtype=np.uint8)
    extract_features(images[:2], trunk=trunk, device=device, progress=False)  # warm-up
    t = time.perf_counter()
    X = extract_features(images, trunk=trunk, device=device, batch_size=64, progress=False)
    dt = time.perf_counter() - t
    print(f"stl10 ResNet-50 features on {device}: {X.shape} in {dt:.1f} s = {n / dt:.1f} images/s "
          f"(13,000 images: about {13000 / (n / dt) / 60:.1f} min), peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "fashion-mnist"
    if what == "fashion-mnist":
        bench_fashion()
    elif what == "stl10-images":
        bench_stl10_images()
    elif what == "stl10-features":
        bench_stl10_features(int(sys.argv[2]) if len(sys.argv) > 2 else 64)
    else:
        sys.exit(f"unknown benchmark {what!r}: fashion-mnist | stl10-images | stl10-features [N]")
