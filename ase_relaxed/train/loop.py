"""The training loop: AdamW, warm-up + cosine schedule, EMA, clipping, early
stopping, CSV log, and checkpoints that make a killed run resumable.

    L = w_E mean_k((E_k − E_k^ref)/N_k)² + w_F mean_iα(F_iα − F_iα^ref)² + w_S mean(σ − σ^ref)²
        (+ w_TC PITC + w_SC PISC, Takamoto et al. 2024; + θ penalties for relaxed models)

Batches are drawn from a permutation seeded by (seed, epoch), so the data order
needs no saved RNG state: a run killed (even with SIGKILL) and resumed from its
last checkpoint replays exactly the steps an uninterrupted run takes.

>>> # model_path = train(TrainConfig.from_yaml("train.yaml"))
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import torch

from .. import keys
from ..errors import InputError, Interrupted
from ..interrupt import deferred_stop, stop_requested
from ..models import build_model, save_model
from ..physics.losses import weak_supervision_losses
from .config import TrainConfig
from .dataset import STRESS_MASK, batch_labelled, fit_statistics, labelled_graph, read_labelled, split_indices
from .metrics import error_metrics, predict

LOG_FIELDS = ["step", "lr", "loss", "loss_energy", "loss_forces", "loss_stress", "loss_theta", "loss_pitc", "loss_pisc",
              "val_energy_rmse_per_atom", "val_forces_rmse", "val_stress_rmse"]


def loss_terms(model, batch: dict, weights, step: int = 0, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weighted energy, force, stress, θ and weak-supervision (PITC, PISC) losses of one batch (training mode).

    The PITC/PISC displacements come from a generator seeded by (seed, step), so a resumed run draws the
    same displacements as an uninterrupted one.
    """
    want_stress = weights.stress_weight > 0 and bool(batch[STRESS_MASK].any())
    pred = model(batch, compute_forces=True, compute_stress=want_stress)
    n = batch[keys.NUM_ATOMS].to(pred[keys.ENERGY].dtype)
    terms = {
        "loss_energy": (((pred[keys.ENERGY] - batch[keys.ENERGY]) / n) ** 2).mean(),
        "loss_forces": ((pred[keys.FORCES] - batch[keys.FORCES]) ** 2).mean(),
        "loss_stress": torch.zeros((), dtype=pred[keys.ENERGY].dtype),
    }
    if want_stress:
        mask = batch[STRESS_MASK]
        terms["loss_stress"] = ((pred[keys.STRESS][mask] - batch[keys.STRESS][mask]) ** 2).mean()
    terms["loss_theta"] = theta_penalty(model, weights).to(terms["loss_energy"].dtype)
    terms["loss_pitc"] = terms["loss_pisc"] = torch.zeros((), dtype=terms["loss_energy"].dtype)
    active = tuple(name for name in ("pitc", "pisc") if getattr(weights, f"{name}_weight") > 0)
    if active:
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, step]).generate_state(1)[0]))
        weak = weak_supervision_losses(
            model, batch, delta=weights.weak_delta, generator=generator, distribution=weights.weak_distribution,
            use_labels=weights.weak_use_labels, prediction_at_r=pred, terms=active,
        )
        for name in active:
            terms[f"loss_{name}"] = weak[name]
    terms["loss"] = (weights.energy_weight * terms["loss_energy"] + weights.forces_weight * terms["loss_forces"]
                     + weights.stress_weight * terms["loss_stress"] + terms["loss_theta"]
                     + weights.pitc_weight * terms["loss_pitc"] + weights.pisc_weight * terms["loss_pisc"])
    return terms


def theta_penalty(model, weights) -> torch.Tensor:
    """Regulariser of the symmetry-breaking weights θ (zero for strictly equivariant models)."""
    total = torch.zeros(())
    for layer in model.energy_model.relaxed_filters():
        if weights.theta_l2_weight:
            total = total + weights.theta_l2_weight * layer.penalty_l2()
        if weights.theta_group_weight:
            total = total + weights.theta_group_weight * layer.penalty_group()
    return total


class EMA:
    """Exponential moving average of parameters: θ̄ ← d θ̄ + (1 − d) θ, d = min(decay, (1+t)/(10+t))."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for name, value in model.state_dict().items():
            if value.is_floating_point():
                self.shadow[name].mul_(d).add_(value.detach(), alpha=1 - d)
            else:
                self.shadow[name].copy_(value)


def learning_rate_factor(step: int, optim) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio``."""
    if step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    progress = (step - optim.warmup_steps) / max(1, optim.max_steps - optim.warmup_steps)
    return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:  # interrupted or failed: keep the previous checkpoint, leave no stray .tmp
        tmp.unlink(missing_ok=True)
        raise


def _load_checkpoint(path: Path, model: torch.nn.Module) -> dict:
    """The saved training state, with the model's weights loaded; InputError for anything unusable."""
    try:
        saved = torch.load(path, weights_only=True)  # tensors and plain containers only: never runs code
        keys_ok = isinstance(saved, dict) and {"model", "optimizer", "scheduler", "ema", "state"} <= set(saved)
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for a damaged or foreign file
        raise InputError(f"{str(path)!r} is not a readable training checkpoint ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else 'damaged file'}); it is never unpickled "
                         "beyond tensors. Start afresh in another out_dir") from None
    if not keys_ok:
        raise InputError(f"{str(path)!r} is not an ase_relaxed training checkpoint (missing entries)")
    try:
        model.load_state_dict(saved["model"])
    except (RuntimeError, KeyError, TypeError) as error:
        first = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise InputError(f"{str(path)!r} was written for another model configuration ({first}); resume with the "
                         "config of that run, or start afresh in another out_dir") from None
    return saved


def _truncate_log(path: Path, step: int) -> None:
    """Drop log rows written after the checkpoint we resume from (no duplicated rows)."""
    if not path.exists():
        return
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, LOG_FIELDS)
        writer.writeheader()
        writer.writerows(r for r in rows if int(r["step"]) <= step)


def prepare(config: TrainConfig):
    """Read, validate and split the data; fit statistics; build the model. Fails before training."""
    species = config.model.species
    frames = read_labelled(config.data.path, species)
    split = split_indices(frames, config.data)
    graphs = [labelled_graph(a, config.model.cutoff) for a in frames]
    train_frames = [frames[k] for k in split["train"]]
    stats = fit_statistics(train_frames, [graphs[k] for k in split["train"]], species)
    model_config = config.model.replace(
        energy_shift=stats.energy_shift, energy_scale=[stats.force_rms] * len(species),
        avg_num_neighbors=stats.avg_num_neighbors,
    )
    return graphs, split, model_config


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train, checkpointing every ``optim.checkpoint_every`` steps; return the best model's path."""
    out = Path(config.out_dir)
    checkpoint_path, log_path, best_path = out / "checkpoint.pt", out / "log.csv", out / "model.safetensors"
    if not resume and checkpoint_path.exists():
        raise InputError(f"{str(out)!r} already holds a run; pass --resume to continue it or choose another out_dir")
    if resume and not checkpoint_path.exists():
        raise InputError(f"no checkpoint to resume in {str(out)!r}")
    graphs, split, model_config = prepare(config)
    optim = config.optim

    model = build_model(model_config).train()
    eval_model = build_model(model_config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: learning_rate_factor(s, optim))
    ema = EMA(model, optim.ema_decay)
    state = {"step": 0, "best_val": float("inf"), "bad_evals": 0, "stopped": False}
    if resume:  # everything is checked before a file of the run is touched
        saved = _load_checkpoint(checkpoint_path, model)
        try:
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"{str(checkpoint_path)!r}: optimizer state does not fit this config ({error})") from None
        ema.shadow = saved["ema"]
        state = saved["state"]
        _truncate_log(log_path, state["step"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    if not resume and log_path.exists():
        log_path.unlink()

    train_idx = np.array(split["train"])
    steps_per_epoch = max(1, math.ceil(len(train_idx) / optim.batch_size))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=optim.max_steps, initial=state["step"], desc="train", unit="step")
    log_is_new = not log_path.exists()
    with open(log_path, "a", newline="") as log_file, deferred_stop():
        writer = csv.DictWriter(log_file, LOG_FIELDS)
        if log_is_new:
            writer.writeheader()
        while state["step"] < optim.max_steps and not state["stopped"]:
            step = state["step"]
            epoch, position = divmod(step, steps_per_epoch)
            order = train_idx[np.random.default_rng([optim.seed, epoch]).permutation(len(train_idx))]
            chosen = order[position * optim.batch_size : (position + 1) * optim.batch_size]
            batch = batch_labelled([graphs[k] for k in chosen])
            terms = loss_terms(model, batch, config.loss, step=step, seed=optim.seed)
            optimizer.zero_grad()
            terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
            optimizer.step()
            scheduler.step()
            ema.update(model, step)
            state["step"] = step = step + 1
            row = {"step": step, "lr": scheduler.get_last_lr()[0], **{k: float(v.detach()) for k, v in terms.items()}}
            if step % optim.eval_every == 0 or step == optim.max_steps:
                eval_model.load_state_dict(ema.shadow)
                val = error_metrics(predict(eval_model, [graphs[k] for k in split["val"] or split["train"]]))
                row.update({f"val_{k}": val.get(k, "") for k in ("energy_rmse_per_atom", "forces_rmse", "stress_rmse")})
                score = val["energy_rmse_per_atom"] + val["forces_rmse"]
                if score < state["best_val"]:
                    state["best_val"], state["bad_evals"] = score, 0
                    save_model(eval_model, best_path, training=_training_info(config, split, step, val))
                else:
                    state["bad_evals"] += 1
                    state["stopped"] = state["bad_evals"] >= optim.patience
                if bar is not None:
                    bar.set_postfix(E=f"{val['energy_rmse_per_atom'] * 1e3:.2f}meV/at",
                                    F=f"{val['forces_rmse']:.3f}eV/Å")
            writer.writerow(row)
            log_file.flush()
            stop = stop_requested() if step < optim.max_steps and not state["stopped"] else None
            if step % optim.checkpoint_every == 0 or step == optim.max_steps or state["stopped"] or stop:
                _atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                              "scheduler": scheduler.state_dict(), "ema": ema.shadow, "state": state}, checkpoint_path)
            if bar is not None:
                bar.update(1)
            if stop:
                raise Interrupted(f"{stop} at step {step} of {optim.max_steps}; {str(checkpoint_path)!r} holds it "
                                  "(best model so far: model.safetensors): rerun with --resume to continue")
    if bar is not None:
        bar.close()
    from ..models import load_model

    best = load_model(best_path)
    if split["test"]:
        test = error_metrics(predict(best, [graphs[k] for k in split["test"]]))
        (out / "test_metrics.json").write_text(json.dumps(test, indent=2))
    return best_path


def _training_info(config: TrainConfig, split: dict, step: int, val: dict) -> dict:
    return {
        "method": "ase_relaxed.train (AdamW, EMA weights, energy/force/stress MSE)",
        "data": str(config.data.path), "split_by": config.data.split_by,
        "test_families": config.data.test_families, "sizes": {k: len(v) for k, v in split.items()},
        "step": step, "validation": val, "loss": config.loss.to_dict(),
    }
