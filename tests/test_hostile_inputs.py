"""Issue 27, "nothing lost, nothing let in", second pass: hostile names, records and data, full
disks and error texts. Each test failed on d707f52 (see /work/notes/issue-27.md for the table)."""

from __future__ import annotations

import errno
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from cli_helper import run_cli
from clusterbench.errors import DataError


# --------------------------------------------------------------------------- 1. changed data


def test_in_place_change_with_mtime_restored_is_not_trusted(tmp_path):
    """rsync --inplace --times / touch -r: same size, mtime and inode, other bytes. The
    verification cache keys on the ctime too, which utime cannot restore."""
    import h5py

    from clusterbench.data.hdf5 import Prepared, verify_content, write_dataset

    path = tmp_path / "d.h5"
    write_dataset(path, Prepared(np.arange(40, dtype=np.float32).reshape(10, 4), np.arange(10) % 2, {}),
                  name="d", n_clusters=2)
    verify_content(path)  # verified and cached
    st = path.stat()
    time.sleep(0.05)  # past the kernel's clock tick
    with h5py.File(path, "r+") as f:  # in place: same size, same inode
        f["X"][0] = 99.0
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    with pytest.raises(DataError, match="was changed after clusterbench wrote it"):
        verify_content(path)
