"""``clusterbench simclr``: pre-train the SimCLR encoder of DC3-GAN's CIFAR-10 experiment on a
fetched data set (cached by hash under the home's ``models/``; see clusterbench.methods.pretrain.simclr)."""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from clusterbench.errors import ConfigError

def simclr(
    dataset: Annotated[str, typer.Argument(help="A fetched data set of 3 x 32 x 32 images (cifar10).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the pre-training.")] = 0,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")] = "auto",
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="SimCLR config override key=value (epochs, batch_size, augment, ...); repeatable.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Pre-train SimCLR (ResNet-18 for 32 x 32, NT-Xent 0.5, batch 512, 1000 epochs by default) on
    DATASET, or reuse the cached result; prints the weights file (``model.pt``, net ``encoder``)."""
    # lazy: torch/torchvision and the data layer only when the command runs (fast `--help`)
    from clusterbench import data
    from clusterbench.methods.base import make_config
    from clusterbench.methods.pretrain.simclr import SimCLRConfig, pretrain
    from clusterbench.runner.spec import parse_overrides, validate_seeds

    # every option is checked before the data set is loaded
    overrides = parse_overrides(set_, ["simclr"])["simclr"]  # the one --set parser (as `run`)
    cfg = make_config(SimCLRConfig, overrides, method="simclr")
    validate_seeds(1, seed, start="--seed")
    try:
        import torchvision  # noqa: F401  (the ResNet-18 and the augmentations)
    except ImportError:
        raise ConfigError("SimCLR pre-training needs torchvision, which is not installed.",
                          hint="Install it with `pip install 'clusterbench[vision]'` (or `pip install torchvision`).") from None
    X, _, info = data.load(dataset)
    path = pretrain(X, cfg, seed=seed, device=device, data_id=info.checksum)
    if as_json:
        typer.echo(json.dumps({"dataset": dataset, "seed": seed, "weights": str(path)}))
    else:
        typer.echo(str(path))
