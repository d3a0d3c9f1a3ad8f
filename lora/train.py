"""The LoRA trainer: peft LoRA on the UNet attention projections of any checkpoint ComfyUI can load.

Models come from ComfyUI's own loader (``comfy.sd.load_checkpoint_guess_config``); latents and text embeddings
are computed once and cached; the loss is the epsilon-space error ``((denoised - x0) / sigma)²`` through
``BaseModel.apply_model``, which is the usual noise-prediction loss for SD1.x/SDXL and stays a consistent
objective for other parameterisations. Every check that can fail (data, base file, resume state, memory) runs
before the first step or file write.
"""

from __future__ import annotations

import contextlib
import math
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .dataset import Dataset, load_pixels, scan_folder
from .files import LoraFileError, read_header
from .kohya import build_metadata, kohya_module_name, save_atomic

# ComfyUI's CrossAttention projections, wherever they sit in the UNet (attn1 self, attn2 cross).
TARGET_MODULES = r".*attn[12]\.(to_q|to_k|to_v|to_out\.0)$"
ADAPTER = "default"
STATE_FORMAT = 1

# Activation memory per latent pixel per sample, measured on SDXL-width UNets (1.54 GiB at 128² latents with
# checkpointing, 12.7 GiB without); a deliberate over-estimate for SD1.x.
_ACTIVATION_BYTES_PER_LATENT_PX = {True: 130_000, False: 800_000}
_HEADROOM_BYTES = 1 * 2**30


class TrainError(ValueError):
    """A training run that cannot start, with what to change."""


class CheckpointMismatchError(TrainError):
    """A resume state saved with another rank, alpha or base model."""


class InsufficientMemoryError(TrainError):
    """The estimated memory need exceeds what the device has free."""


@dataclass
class TrainConfig:
    data: Path
    base: str | Path
    out: Path
    steps: int = 500
    rank: int = 16
    alpha: float | None = None             # None: alpha = rank (scale 1)
    lr: float = 1e-4
    resolution: int = 512
    batch: int = 1
    trigger: str = ""
    default_caption: str = "pixel art"
    seed: int = 0
    gradient_checkpointing: bool = True
    save_every: int = 250
    resume: bool = False
    cpu: bool = False
    memory_check: bool = True
    engine_dir: Path | None = None
    recommended_strength: float = 1.0
    progress: bool = True

    @property
    def lora_alpha(self) -> float:
        return float(self.alpha if self.alpha is not None else self.rank)

    def validate(self) -> None:
        """Raise TrainError for values out of range."""
        checks = [(self.steps >= 1, f"--steps must be at least 1 (got {self.steps})"),
                  (1 <= self.rank <= 1024, f"--rank must be 1..1024 (got {self.rank})"),
                  (self.lora_alpha > 0, f"--alpha must be positive (got {self.alpha})"),
                  (0 < self.lr < 1, f"--lr must be between 0 and 1 (got {self.lr})"),
                  (self.batch >= 1, f"--batch must be at least 1 (got {self.batch})"),
                  (self.resolution >= 64 and self.resolution % 64 == 0,
                   f"--resolution must be a multiple of 64, at least 64 (got {self.resolution})"),
                  (Path(self.out).suffix == ".safetensors", f"--out must end in .safetensors (got {self.out})")]
        for ok, message in checks:
            if not ok:
                raise TrainError(message)


@dataclass
class TrainResult:
    out: Path
    steps: int
    losses: list[float]
    seconds: float
    steps_per_s: float
    peak_memory_bytes: int
    notices: list[str] = field(default_factory=list)


def state_path(out: str | Path) -> Path:
    """Where the resume state of a LoRA file lives (beside it)."""
    out = Path(out)
    return out.with_name(out.name + ".train-state.pt")


def read_resume_state(path: Path, rank: int, alpha: float) -> dict:
    """Load a resume state; raise CheckpointMismatchError when it was saved with another rank or alpha."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointMismatchError(f"resume state {path} cannot be read ({exc}); delete it to start over") from exc
    if state.get("format") != STATE_FORMAT:
        raise CheckpointMismatchError(f"resume state {path} has format {state.get('format')}, expected {STATE_FORMAT}")
    if int(state["rank"]) != rank or not math.isclose(float(state["alpha"]), alpha):
        raise CheckpointMismatchError(
            f"resume state {path} was saved with rank {state['rank']} and alpha {state['alpha']:g}, but this run asks "
            f"for rank {rank} and alpha {alpha:g}. Resume with --rank {state['rank']} --alpha {state['alpha']:g}, "
            "or delete the state file to start over.")
    return state


def estimate_memory_bytes(weight_bytes: int, resolution: int, batch: int, gradient_checkpointing: bool) -> int:
    """A conservative estimate of the memory a run needs: weights + activations + optimizer + headroom."""
    latent_px = (resolution // 8) ** 2
    activations = batch * latent_px * _ACTIVATION_BYTES_PER_LATENT_PX[bool(gradient_checkpointing)]
    return int(weight_bytes + activations + _HEADROOM_BYTES)


def available_memory_bytes(device: torch.device) -> int:
    """Free memory for training on ``device``. On aarch64 with CUDA (unified memory, e.g. GB10) it is the smaller
    of the GPU's free memory and the system's available RAM, since both come from one pool."""
    import psutil

    ram = int(psutil.virtual_memory().available)
    if device.type != "cuda":
        return ram
    free, _ = torch.cuda.mem_get_info(device)
    return min(int(free), ram) if platform.machine() in ("aarch64", "arm64") else int(free)


def check_memory(required: int, available: int, hint: str) -> None:
    """Raise InsufficientMemoryError when ``required`` exceeds ``available`` (bytes)."""
    if required > available:
        raise InsufficientMemoryError(
            f"training needs about {required / 2**30:.1f} GiB but only {available / 2**30:.1f} GiB is free; {hint}. "
            "(Pass --no-memory-check to try anyway.)")


def _resolve_base(base: str | Path, engine_dir: Path) -> Path:
    path = Path(base)
    if path.is_file():
        return path
    candidate = engine_dir / "models" / "checkpoints" / str(base)
    if candidate.is_file():
        return candidate
    names = sorted(p.name for p in (engine_dir / "models" / "checkpoints").glob("*.safetensors"))
    raise TrainError(f"base checkpoint {base} not found (as a path or in {engine_dir / 'models' / 'checkpoints'}; "
                     f"there: {', '.join(names) or 'nothing'})")


@contextlib.contextmanager
def pytorch_sdpa():
    """Route ComfyUI's attention through PyTorch SDPA while training (no xformers, runs on aarch64)."""
    import comfy.ldm.modules.attention as attention

    saved = attention.optimized_attention, attention.optimized_attention_masked
    attention.optimized_attention = attention.attention_pytorch
    attention.optimized_attention_masked = attention.attention_pytorch
    try:
        yield
    finally:
        attention.optimized_attention, attention.optimized_attention_masked = saved


def _checkpoint_leaf_blocks(module: torch.nn.Module, wrapped: list) -> list:
    """Wrap the forward of the first non-container modules under ``module`` with activation checkpointing."""
    for child in module.children():
        if isinstance(child, (torch.nn.ModuleList, torch.nn.Sequential, torch.nn.ModuleDict)):
            _checkpoint_leaf_blocks(child, wrapped)
            continue
        if not any(p.numel() for p in child.parameters()):
            continue
        original = child.forward

        def forward(*args, _original=original, **kwargs):
            return torch.utils.checkpoint.checkpoint(_original, *args, use_reentrant=False, **kwargs)

        child.forward = forward
        wrapped.append(child)
    return wrapped


def _unwrap(blocks: list) -> None:
    for block in blocks:
        del block.forward


class LoraTrainer:
    """One training run; ``prepare()`` checks and loads everything, ``step()`` trains, ``save()`` writes."""

    def __init__(self, config: TrainConfig, say: Callable[[str], None] | None = None):
        config.validate()
        self.config = config
        self.say = say or (lambda text: None)
        self.notices: list[str] = []
        self.losses: list[float] = []
        self.step_index = 0
        self._checkpointed: list = []

    # preparation ------------------------------------------------------------------------------------------

    def check_inputs(self) -> None:
        """Every check that needs no model: dataset, base file, resume state, output folder, memory."""
        from ..engine.local import find_engine_dir

        cfg = self.config
        self.dataset: Dataset = scan_folder(cfg.data, cfg.resolution, cfg.default_caption, cfg.trigger)
        self.notices.extend(self.dataset.notices)
        for notice in self.dataset.notices:
            self.say(f"notice: {notice}")
        self.engine_dir = Path(cfg.engine_dir) if cfg.engine_dir else find_engine_dir()
        self.base_path = _resolve_base(cfg.base, self.engine_dir)
        if self.base_path.suffix == ".safetensors":
            try:
                read_header(self.base_path)
            except LoraFileError as exc:
                raise TrainError(f"base checkpoint: {exc}") from exc
        self.base_bytes = self.base_path.stat().st_size
        self.resume_state = None
        state_file = state_path(cfg.out)
        if cfg.resume:
            if not state_file.is_file():
                raise TrainError(f"--resume given but there is no resume state at {state_file}")
            self.resume_state = read_resume_state(state_file, cfg.rank, cfg.lora_alpha)
            if self.resume_state.get("base") != self.base_path.name:
                raise CheckpointMismatchError(f"resume state {state_file} was trained on {self.resume_state.get('base')}"
                                              f", not {self.base_path.name}")
        out_dir = Path(cfg.out).resolve().parent
        out_dir.mkdir(parents=True, exist_ok=True)
        self.device = torch.device("cpu") if cfg.cpu or not torch.cuda.is_available() else torch.device("cuda")
        if cfg.memory_check:
            # fp16 files are upcast to fp32 on CPU
            weights = self.base_bytes * (2 if self.device.type == "cpu" else 1)
            need = estimate_memory_bytes(weights, cfg.resolution, cfg.batch, cfg.gradient_checkpointing)
            hint = "lower --batch or --resolution" + ("" if cfg.gradient_checkpointing else
                                                      ", or turn gradient checkpointing on")
            check_memory(need, available_memory_bytes(self.device), hint)

    def prepare(self) -> None:
        """Check inputs, load the base with ComfyUI, cache latents and text embeddings, add the LoRA layers."""
        self.check_inputs()
        from .comfy_runtime import import_comfy

        import_comfy(self.engine_dir, cpu=self.device.type == "cpu")
        import comfy.model_management
        import comfy.sd

        cfg = self.config
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        self.say(f"loading {self.base_path.name} with ComfyUI")
        try:
            loaded = comfy.sd.load_checkpoint_guess_config(str(self.base_path), output_vae=True, output_clip=True)
        except Exception as exc:
            raise TrainError(f"ComfyUI cannot load the base checkpoint {self.base_path}: {exc}") from exc
        self.patcher, self.clip, self.vae = loaded[0], loaded[1], loaded[2]
        if self.patcher is None or self.clip is None or self.vae is None:
            raise TrainError(f"{self.base_path} has no "
                             + "/".join(n for n, v in (("UNet", self.patcher), ("text encoder", self.clip),
                                                       ("VAE", self.vae)) if v is None)
                             + " that ComfyUI recognises; train on a full checkpoint")
        from .apply import family_of_model

        self.family = family_of_model(self.patcher)
        self._cache_inputs()
        # Asking for "all memory" unloads the VAE and text encoders, which training no longer needs after caching.
        comfy.model_management.load_models_gpu([self.patcher], memory_required=1e20, force_full_load=True)
        self.model = self.patcher.model
        self.model.requires_grad_(False)
        self.model.train()
        self._add_lora()
        if cfg.gradient_checkpointing:
            self._checkpointed = _checkpoint_leaf_blocks(self.model.diffusion_model, [])
        self.optimizer = torch.optim.AdamW(self.lora_parameters(), lr=cfg.lr, weight_decay=1e-2)
        if self.resume_state is not None:
            self._load_state(self.resume_state)
        self.autocast_dtype = None
        self.scaler = None
        if self.device.type == "cuda":
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            if self.autocast_dtype == torch.float16:
                self.scaler = torch.amp.GradScaler("cuda")

    def _cache_inputs(self) -> None:
        cfg = self.config
        self.latents: list[torch.Tensor] = []
        for sample in self.dataset.samples:
            pixels = torch.from_numpy(load_pixels(sample))[None]
            with torch.no_grad():
                self.latents.append(self.vae.encode(pixels).float().cpu())
        self.text_cache: dict[str, tuple[torch.Tensor, torch.Tensor | None]] = {}
        for caption in {s.caption for s in self.dataset.samples}:
            with torch.no_grad():
                cond, pooled = self.clip.encode_from_tokens(self.clip.tokenize(caption), return_pooled=True)
            self.text_cache[caption] = (cond.float().cpu(), None if pooled is None else pooled.float().cpu())
        self.say(f"cached {len(self.latents)} latents and {len(self.text_cache)} caption embeddings "
                 f"({len(self.dataset.buckets())} bucket(s) at {cfg.resolution}px)")

    def _add_lora(self) -> None:
        from peft import LoraConfig, inject_adapter_in_model

        cfg = self.config
        lora_config = LoraConfig(r=cfg.rank, lora_alpha=cfg.lora_alpha, target_modules=TARGET_MODULES,
                                 init_lora_weights="gaussian", lora_dropout=0.0, bias="none")
        inject_adapter_in_model(lora_config, self.model.diffusion_model, adapter_name=ADAPTER)
        self.lora_modules = {name: module for name, module in self.model.diffusion_model.named_modules()
                             if hasattr(module, "lora_A") and ADAPTER in getattr(module, "lora_A", {})}
        if not self.lora_modules:
            raise TrainError(f"{self.base_path.name}: no attention projections (to_q/to_k/to_v/to_out.0) found in "
                             "its diffusion model; this trainer supports UNet models with CrossAttention")
        for module in self.lora_modules.values():
            for param in (module.lora_A[ADAPTER].weight, module.lora_B[ADAPTER].weight):
                param.data = param.data.float()
                param.requires_grad_(True)

    def lora_parameters(self) -> list[torch.nn.Parameter]:
        return [p for m in self.lora_modules.values() for p in (m.lora_A[ADAPTER].weight, m.lora_B[ADAPTER].weight)]

    # training ---------------------------------------------------------------------------------------------

    def sample_batch(self, generator: torch.Generator) -> dict:
        """Pick a bucket (weighted by its size) and up to ``batch`` samples from it, with noise and sigmas."""
        buckets = list(self.dataset.buckets().values())
        weights = torch.tensor([len(b) for b in buckets], dtype=torch.float)
        group = buckets[int(torch.multinomial(weights, 1, generator=generator))]
        order = torch.randperm(len(group), generator=generator).tolist()[: self.config.batch]
        indices = [group[i] for i in order]
        x0 = torch.cat([self.latents[i] for i in indices])
        noise = torch.randn(x0.shape, generator=generator)
        percents = (torch.rand(len(indices), generator=generator) * 0.998 + 0.001).tolist()
        sampling = self.model.model_sampling
        sigmas = torch.tensor([float(sampling.percent_to_sigma(p)) for p in percents])
        return {"indices": indices, "x0": x0, "noise": noise, "sigmas": sigmas}

    def _loss(self, batch: dict) -> torch.Tensor:
        model = self.model
        device = self.device
        x0 = model.process_latent_in(batch["x0"].to(device))
        noise = batch["noise"].to(device)
        sigmas = batch["sigmas"].to(device)
        xt = model.model_sampling.noise_scaling(sigmas, noise, x0)
        height, width = x0.shape[-2] * 8, x0.shape[-1] * 8
        conds = []
        for index in batch["indices"]:
            cond, pooled = self.text_cache[self.dataset.samples[index].caption]
            conds.append(model.extra_conds(cross_attn=cond.to(device), pooled_output=None if pooled is None
                                           else pooled.to(device), width=width, height=height,
                                           target_width=width, target_height=height, device=device,
                                           noise=xt[:1]))
        kwargs = {key: conds[0][key].concat([c[key] for c in conds[1:]]) if len(conds) > 1 else conds[0][key].cond
                  for key in conds[0]}
        kwargs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in kwargs.items()}
        autocast = (torch.autocast(device.type, dtype=self.autocast_dtype) if self.autocast_dtype
                    else contextlib.nullcontext())
        with autocast:
            denoised = model.apply_model(xt, sigmas, **kwargs)
        scale = sigmas.view(-1, *([1] * (x0.dim() - 1)))
        return torch.nn.functional.mse_loss((denoised.float() - x0.float()) / scale, torch.zeros_like(x0))

    def loss_on(self, batch: dict) -> float:
        """The loss on a given batch without training (for checking that training lowers it)."""
        with torch.no_grad(), pytorch_sdpa():
            return float(self._loss(batch))

    def step(self, generator: torch.Generator, batch: dict | None = None) -> float:
        """One optimizer step on ``batch`` (default: one sampled with ``generator``); returns its loss."""
        batch = batch if batch is not None else self.sample_batch(generator)
        with pytorch_sdpa():
            loss = self._loss(batch)
            self.optimizer.zero_grad(set_to_none=True)
            if self.scaler is not None:
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                loss.backward()
                self.optimizer.step()
        self.step_index += 1
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainError(f"loss became {value} at step {self.step_index}; lower --lr")
        self.losses.append(value)
        return value

    def run(self) -> TrainResult:
        """Prepare, train to ``steps`` (resuming if asked), save checkpoints and the final file."""
        from tqdm.auto import tqdm

        cfg = self.config
        if not hasattr(self, "model"):
            self.prepare()
        generator = torch.Generator().manual_seed(cfg.seed + self.step_index)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        started = time.perf_counter()
        done_before = self.step_index
        bar = tqdm(total=cfg.steps, initial=self.step_index, desc="training LoRA", unit="step",
                   disable=not cfg.progress)
        try:
            while self.step_index < cfg.steps:
                loss = self.step(generator)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if cfg.save_every and self.step_index % cfg.save_every == 0 and self.step_index < cfg.steps:
                    self.save()
        finally:
            bar.close()
        seconds = time.perf_counter() - started
        self.save()
        _unwrap(self._checkpointed)
        self._checkpointed = []
        steps_run = self.step_index - done_before
        return TrainResult(out=Path(cfg.out), steps=self.step_index, losses=list(self.losses), seconds=seconds,
                           steps_per_s=steps_run / seconds if seconds > 0 else 0.0,
                           peak_memory_bytes=_peak_memory(self.device), notices=list(self.notices))

    # files ------------------------------------------------------------------------------------------------

    def kohya_tensors(self) -> dict[str, torch.Tensor]:
        """The trained LoRA under kohya names (``lora_unet_*.lora_down/lora_up.weight`` and ``.alpha``)."""
        tensors = {}
        alpha = torch.tensor(self.config.lora_alpha)
        for name, module in self.lora_modules.items():
            key = kohya_module_name(name, "unet")
            tensors[f"{key}.lora_down.weight"] = module.lora_A[ADAPTER].weight.detach().float().cpu().clone()
            tensors[f"{key}.lora_up.weight"] = module.lora_B[ADAPTER].weight.detach().float().cpu().clone()
            tensors[f"{key}.alpha"] = alpha.clone()
        return tensors

    def save(self) -> Path:
        """Write the LoRA file and the resume state, each atomically (an interrupted write keeps the old ones)."""
        cfg = self.config
        triggers = [w.strip() for w in cfg.trigger.split(",") if w.strip()]
        metadata = build_metadata(
            family=self.family, rank=cfg.rank, alpha=cfg.lora_alpha, steps=self.step_index, learning_rate=cfg.lr,
            resolution=cfg.resolution, batch=cfg.batch, trigger_words=triggers, base_name=self.base_path.name,
            title=Path(cfg.out).stem, native_pixel_scale=self.dataset.native_pixel_scale(),
            recommended_strength=cfg.recommended_strength, images=len(self.dataset.samples))
        save_atomic(self.kohya_tensors(), cfg.out, metadata)
        state = {"format": STATE_FORMAT, "rank": cfg.rank, "alpha": cfg.lora_alpha, "step": self.step_index,
                 "base": self.base_path.name, "losses": list(self.losses),
                 "lora": {name: {"down": m.lora_A[ADAPTER].weight.detach().cpu(),
                                 "up": m.lora_B[ADAPTER].weight.detach().cpu()} for name, m in self.lora_modules.items()},
                 "optimizer": self.optimizer.state_dict()}
        target = state_path(cfg.out)
        partial = target.with_name(f".{target.name}.partial")
        torch.save(state, partial)
        partial.replace(target)
        self.say(f"saved {cfg.out} at step {self.step_index}")
        return Path(cfg.out)

    def _load_state(self, state: dict) -> None:
        missing = set(self.lora_modules) ^ set(state["lora"])
        if missing:
            raise CheckpointMismatchError(f"resume state does not match this model's LoRA layers "
                                          f"({len(missing)} differ, e.g. {sorted(missing)[0]})")
        for name, module in self.lora_modules.items():
            module.lora_A[ADAPTER].weight.data.copy_(state["lora"][name]["down"])
            module.lora_B[ADAPTER].weight.data.copy_(state["lora"][name]["up"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step_index = int(state["step"])
        self.losses = list(state.get("losses", []))
        self.say(f"resumed from step {self.step_index}")


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def train_lora(config: TrainConfig, say: Callable[[str], None] | None = None) -> TrainResult:
    """Run a whole training; returns the TrainResult. Raises TrainError (and subclasses) before any step."""
    return LoraTrainer(config, say).run()


__all__ = ["TrainConfig", "TrainResult", "LoraTrainer", "train_lora", "TrainError", "CheckpointMismatchError",
           "InsufficientMemoryError", "estimate_memory_bytes", "check_memory", "state_path"]
