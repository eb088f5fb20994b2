"""Train a pose model on a DATASET.zarr.

  rfpose train --model hrradarpose-lite --data DATASET.zarr --out runs/lite --epochs 30
  rfpose train --model hupr --data HUPR.zarr --out runs/hupr --resume
  torchrun --standalone --nproc-per-node=2 -m rfpose train --model ... (DDP over gloo)

Unset optimiser settings come from the model family's recipe (RT-Pose: AdamW-style decoupled weight
decay 0.01, betas (0.9, 0.99), OneCycle to lr 2e-3 with 40% warm-up, grad clip 35; HuPR: Adam lr 1e-4,
weight decay 1e-4). The run directory gets config.json, last.pt, best.pt, metrics.csv and tb/.
"""

from __future__ import annotations

import argparse


def add_arguments(p) -> None:
    from rfpose.cli import args as a

    p.add_argument("--model", required=True, help="registered model name (see `rfpose bench model`)")
    p.add_argument("--data", required=True, help="DATASET.zarr written by `rfpose preprocess`")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--epochs", type=a.positive_int)
    p.add_argument("--batch-size", type=a.positive_int)
    p.add_argument("--lr", type=a.positive_float, help="learning rate (OneCycle: the maximum)")
    p.add_argument("--weight-decay", type=a.nonnegative_float)
    p.add_argument("--optimizer", choices=["adamw-onecycle", "adam"])
    p.add_argument("--max-minutes", type=a.positive_float, help="stop after this wall time (checkpoint saved; --resume continues)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    p.add_argument("--device", type=a.torch_device, default="cpu")
    p.add_argument("--workers", type=a.nonnegative_int, default=0, help="DataLoader worker processes (spawned)")
    p.add_argument("--threads", type=a.positive_int, help="torch intra-op threads")
    p.add_argument("--cache", action="store_true",
                   help="hold the training split's tensors in RAM (read and decoded once; needs --workers 0), "
                        "and the validation split's when the RAM left allows")
    p.add_argument("--limit-train", type=a.positive_int, help="use only N training samples, spread evenly over the split")
    p.add_argument("--limit-val", type=a.positive_int, help="use only N validation samples, spread evenly over the split")
    a.add_force(p)
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="flip / rotation / intensity jitter (default: the model's recipe; HuPR's has none)")
    p.add_argument("--model-arg", action="append", default=[], metavar="KEY=JSON",
                   help="constructor override, e.g. --model-arg max_people=3 (repeatable)")


def run(args) -> int:
    from rfpose.cli.args import model_overrides, output_dir
    from rfpose.models.augment import AugmentConfig
    from rfpose.models.train import TrainConfig, train

    overrides = model_overrides(args.model_arg)
    output_dir(args.out, args.force, allow_existing=args.resume)
    cfg = TrainConfig(model=args.model, data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, weight_decay=args.weight_decay, optimizer=args.optimizer,
                      max_minutes=args.max_minutes, seed=args.seed, device=args.device, workers=args.workers,
                      limit_train=args.limit_train, limit_val=args.limit_val, resume=args.resume,
                      augment=AugmentConfig(enabled=args.augment), model_overrides=overrides,
                      threads=args.threads, cache=args.cache)
    result = train(cfg)
    if result["history"]:
        last = result["history"][-1]
        print(f"{result['run']}: {result['epochs_done']} epochs, last train loss {last['train_loss']:.4g}, "
              f"best {result['best_metric']} at epoch {result['best_epoch']}"
              + (" (stopped at --max-minutes)" if result["stopped_early"] else ""))
    return 0
