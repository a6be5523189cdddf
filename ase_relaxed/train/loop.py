"""The training loop: AdamW, warm-up + cosine schedule, EMA, clipping, early
stopping, CSV log, and checkpoints that make a killed run resumable.

    L = w_E mean_k((E_k − E_k^ref)/N_k)² + w_F mean_iα(F_iα − F_iα^ref)² + w_S mean(σ − σ^ref)²
        (+ w_TC PITC + w_SC PISC, Takamoto et al. 2024; + θ penalties for relaxed models)

Batches are drawn from a permutation seeded by (seed, epoch), so the data order
needs no saved RNG state: a run killed (even with SIGKILL) and resumed from its
last checkpoint replays exactly the steps an uninterrupted run takes.

Under ``torchrun`` each rank takes a disjoint shard of every global batch and back-propagates its share
of the global-batch mean (see :mod:`.distributed`), so R ranks take the same steps as one process; rank 0
alone writes the log, checkpoints and models, and validation runs on rank 0 and is broadcast.

>>> objective({"loss_energy": torch.tensor(2.0), "loss_forces": torch.tensor(0.5)}, LossSection())
tensor(7.)
>>> # model_path = train(TrainConfig.from_yaml("train.yaml"))
"""

from __future__ import annotations

import csv
import json
import math
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from .. import keys
from ..errors import InputError, Interrupted
from ..interrupt import deferred_stop, stop_requested
from ..models import build_model, save_model
from ..physics.losses import weak_supervision_losses
from .checkpoint import LOG_FIELDS, atomic_save, load_checkpoint, truncate_log
from .config import LossSection, TrainConfig
from .dataset import STRESS_MASK, batch_labelled, fit_statistics, labelled_graph, read_labelled, split_indices
from .distributed import World, session, shard_of, shares, wrap
from .metrics import error_metrics, predict

DATA_TERMS = ("loss_energy", "loss_forces", "loss_stress", "loss_pitc", "loss_pisc")  # means over the batch
VAL_KEYS = ("energy_rmse_per_atom", "forces_rmse", "stress_rmse", "consistency_rms")


def objective(terms: dict[str, torch.Tensor], weights: LossSection, data_scale: float = 1.0) -> torch.Tensor:
    """L = s (w_E L_E + w_F L_F + w_S L_S + w_TC L_PITC + w_SC L_PISC) + L_θ (s: the world size for a shard)."""
    data = sum(getattr(weights, name[5:] + "_weight") * terms[name] for name in DATA_TERMS if name in terms)
    return data_scale * data + terms.get("loss_theta", 0.0)


def validation_score(val: dict[str, float], weights: LossSection) -> float:
    """Model-selection score: validation energy RMSE per atom (eV) + force RMSE (eV/Å), each only when its
    loss term is trained (weight > 0); with neither, the energy RMSE.

    Force labels that are not trained on may be placeholders (energy-only data sets zero them): scoring them
    would select the weights whose forces are smallest, not the best energy.

    >>> val = {"energy_rmse_per_atom": 0.01, "forces_rmse": 0.2}
    >>> validation_score(val, LossSection()), validation_score(val, LossSection(forces_weight=0.0))
    (0.21000000000000002, 0.01)
    """
    score = val["energy_rmse_per_atom"] if weights.energy_weight > 0 or weights.forces_weight == 0 else 0.0
    return score + (val["forces_rmse"] if weights.forces_weight > 0 else 0.0)


def loss_terms(model, batch: dict, weights, step: int = 0, seed: int = 0, share: dict[str, float] | None = None,
               world_size: int = 1, rank: int = 0, forward=None) -> dict[str, torch.Tensor]:
    """Weighted energy, force, stress, θ and weak-supervision (PITC, PISC) losses of one batch (training mode).

    The PITC/PISC displacements come from a generator seeded by (seed, step) (and the rank, for ranks > 0),
    so a resumed run draws the same displacements as an uninterrupted one. For one shard of a global batch,
    ``share`` scales each data term's batch mean to its part of the global mean, and ``"loss"`` is
    ``world_size`` × those parts + θ penalty, whose gradient averaged over the ranks is that of the global
    loss; ``forward`` is the callable that predicts (the ``DistributedDataParallel`` wrapper of ``model``).
    """
    want_stress = weights.stress_weight > 0 and bool(batch[STRESS_MASK].any())
    pred = (forward or model)(batch, compute_forces=True, compute_stress=want_stress)
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
        entropy = [seed, step] if rank == 0 else [seed, step, rank]
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence(entropy).generate_state(1)[0]))
        weak = weak_supervision_losses(
            model, batch, delta=weights.weak_delta, generator=generator, distribution=weights.weak_distribution,
            use_labels=weights.weak_use_labels, prediction_at_r=pred, terms=active,
        )
        for name in active:
            terms[f"loss_{name}"] = weak[name]
    for name, fraction in (share or {}).items():
        terms[name] = terms[name] * fraction
    terms["loss"] = objective(terms, weights, data_scale=world_size)
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


def prepare(config: TrainConfig):
    """Read, validate and split the data; fit statistics; build the model. Fails before training."""
    species = config.model.species
    frames = read_labelled(config.data.path, species)
    for extra in config.data.extra_paths:
        frames = frames + read_labelled(extra, species)
    if config.data.val_path:  # a validation file of its own: path then holds only training and test data
        split = split_indices(frames, config.data.replace(val_fraction=0.0))
        validation = read_labelled(config.data.val_path, species)
        split["val"] = list(range(len(frames), len(frames) + len(validation)))
        frames = frames + validation
    else:
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
    """Train, checkpointing every ``optim.checkpoint_every`` steps; return the best model's path.

    Under ``torchrun`` (RANK, WORLD_SIZE set) the ranks share every global batch (data parallel).
    """
    with session(config.distributed.backend, config.optim.batch_size, config.distributed.timeout_s) as world:
        return _train(config, resume, progress, world)


def _train(config: TrainConfig, resume: bool, progress: bool, world: World) -> Path:
    out = Path(config.out_dir)
    checkpoint_path, log_path, best_path = out / "checkpoint.pt", out / "log.csv", out / "model.safetensors"
    if not resume and checkpoint_path.exists():
        raise InputError(f"{str(out)!r} already holds a run; pass --resume to continue it or choose another out_dir")
    if resume and not checkpoint_path.exists():
        raise InputError(f"no checkpoint to resume in {str(out)!r}")
    graphs, split, model_config = prepare(config)
    optim, device = config.optim, torch.device(world.device)

    model = build_model(model_config).train()
    eval_model = build_model(model_config)
    state = {"step": 0, "best_val": float("inf"), "bad_evals": 0, "stopped": False}
    saved = load_checkpoint(checkpoint_path, model) if resume else None  # checked before a file is touched
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: learning_rate_factor(s, optim))
    ema = EMA(model, optim.ema_decay)
    if saved is not None:
        try:
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
        except (ValueError, KeyError, TypeError) as error:
            raise InputError(f"{str(checkpoint_path)!r}: optimizer state does not fit this config ({error})") from None
        ema.shadow = {k: v.to(device) for k, v in saved["ema"].items()}
        state = saved["state"]
    forward = wrap(model, world)
    world.barrier()  # every rank has checked the run folder before rank 0 writes into it
    if world.is_main:
        if resume:
            truncate_log(log_path, state["step"])
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
        if not resume and log_path.exists():
            log_path.unlink()

    train_idx = np.array(split["train"])
    steps_per_epoch = max(1, math.ceil(len(train_idx) / optim.batch_size))
    bar = None
    if progress and world.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=optim.max_steps, initial=state["step"], desc="train", unit="step")
    log_is_new = world.is_main and not log_path.exists()
    with (open(log_path, "a", newline="") if world.is_main else nullcontext()) as log_file, deferred_stop():
        writer = csv.DictWriter(log_file, LOG_FIELDS) if world.is_main else None
        if log_is_new:
            writer.writeheader()
        while state["step"] < optim.max_steps and not state["stopped"]:
            step = state["step"]
            epoch, position = divmod(step, steps_per_epoch)
            order = train_idx[np.random.default_rng([optim.seed, epoch]).permutation(len(train_idx))]
            chosen = order[position * optim.batch_size : (position + 1) * optim.batch_size]
            mine, counts = shard_of(chosen, world.rank, world.world_size)
            local = [graphs[k] for k in mine]
            batch = {k: v.to(device) for k, v in batch_labelled(local).items()}
            terms = loss_terms(model, batch, config.loss, step=step, seed=optim.seed,
                               share=shares(local, [graphs[k] for k in chosen], counts),
                               world_size=world.world_size, rank=world.rank, forward=forward)
            optimizer.zero_grad()
            terms["loss"].backward()  # DistributedDataParallel averages the gradients over the ranks here
            torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
            optimizer.step()
            scheduler.step()
            ema.update(model, step)
            state["step"] = step = step + 1
            signal_name = stop_requested()
            parts = torch.tensor([float(terms[n].detach()) for n in DATA_TERMS]
                                 + [signal_name == "SIGINT", signal_name not in (None, "SIGINT")], dtype=torch.float64)
            world.all_reduce(parts)  # this step's global-batch means, and who was asked to stop
            logged = dict(zip(DATA_TERMS, parts.tolist()), loss_theta=float(terms["loss_theta"].detach()))
            logged["loss"] = float(objective(logged, config.loss))
            row = {"step": step, "lr": scheduler.get_last_lr()[0], **logged}
            if step % optim.eval_every == 0 or step == optim.max_steps:
                val = _validate(world, eval_model, ema, [graphs[k] for k in split["val"] or split["train"]])
                row.update({f"val_{k}": val.get(k, "") for k in VAL_KEYS})
                score = validation_score(val, config.loss)
                if score < state["best_val"]:
                    state["best_val"], state["bad_evals"] = score, 0
                    if world.is_main:
                        save_model(eval_model, best_path, training=_training_info(config, split, step, val))
                else:
                    state["bad_evals"] += 1
                    state["stopped"] = state["bad_evals"] >= optim.patience
                if bar is not None:
                    bar.set_postfix(E=f"{val['energy_rmse_per_atom'] * 1e3:.2f}meV/at",
                                    F=f"{val['forces_rmse']:.3f}eV/Å")
            if writer is not None:
                writer.writerow(row)
                log_file.flush()
            stop = None
            if step < optim.max_steps and not state["stopped"] and parts[-2:].sum() > 0:
                stop = "SIGINT" if parts[-2] > 0 else "SIGTERM"
            if step % optim.checkpoint_every == 0 or step == optim.max_steps or state["stopped"] or stop:
                if world.is_main:
                    atomic_save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                 "scheduler": scheduler.state_dict(), "ema": ema.shadow, "state": state},
                                checkpoint_path)
            if bar is not None:
                bar.update(1)
            if stop:
                world.barrier()  # the checkpoint is on disk before any rank reports it
                raise Interrupted(f"{stop} at step {step} of {optim.max_steps}; {str(checkpoint_path)!r} holds it "
                                  "(best model so far: model.safetensors): rerun with --resume to continue")
    if bar is not None:
        bar.close()
    if world.is_main and split["test"]:
        from ..models import load_model
        from ..provenance import provenance

        best = load_model(best_path)
        test = error_metrics(predict(best, [graphs[k] for k in split["test"]]))
        (out / "test_metrics.json").write_text(json.dumps({**test, "provenance": provenance(best, date=True)},
                                                          indent=2))
    world.barrier()  # the files are complete before any rank returns their path
    return best_path


def _validate(world: World, eval_model: torch.nn.Module, ema: EMA, graphs: list[dict]) -> dict[str, float]:
    """Validation errors of the EMA weights: computed on rank 0 and broadcast, so all ranks decide alike."""
    values = torch.full((len(VAL_KEYS),), math.nan, dtype=torch.float64)
    if world.is_main:
        eval_model.load_state_dict(ema.shadow)
        val = error_metrics(predict(eval_model, graphs))
        values = torch.tensor([float(val.get(k, math.nan)) for k in VAL_KEYS], dtype=torch.float64)
    world.broadcast(values)
    return {k: v for k, v in zip(VAL_KEYS, values.tolist()) if not math.isnan(v)}


def _training_info(config: TrainConfig, split: dict, step: int, val: dict) -> dict:
    return {
        "method": "ase_relaxed.train (AdamW, EMA weights, energy/force/stress MSE)",
        "data": str(config.data.path), "extra_data": list(config.data.extra_paths), "split_by": config.data.split_by,
        "test_families": config.data.test_families, "sizes": {k: len(v) for k, v in split.items()},
        "step": step, "validation": val, "loss": config.loss.to_dict(),
    }
