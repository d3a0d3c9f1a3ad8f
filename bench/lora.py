"""LoRA training speed and memory: our trainer vs ComfyUI's TrainLoraNode, same settings, same run.

    python bench/lora.py --model tiny                       # CPU: the tiny SD1.5 checkpoint, the table's shape
    python bench/lora.py --model sdxl --json out.json       # GPU: SDXL-shaped random weights, 1024², rank 16, bf16

Each trainer runs in a subprocess of its own (this script with ``--worker``), so that one's peak memory and ComfyUI
state never leak into the other's figures. Both get the same checkpoint, images, rank, resolution, batch, steps,
learning rate, gradient checkpointing and precision (bf16 autocast on GPU, fp32 on CPU). ComfyUI's node is called
outside the graph the way the executor calls it (every input a list) with one latent per image; in ComfyUI 0.3.75
it needs at least two latents. Step time is measured per optimizer step (CUDA synchronised); the first step is
warm-up and is left out of the median. Peak memory is ``torch.cuda.max_memory_allocated`` on GPU, the worker's
peak RSS on CPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

RESULT_PREFIX = "BENCH-RESULT "
PRESETS = {"tiny": {"resolution": 64, "rank": 4, "steps": 6, "batch": 1},
           "sdxl": {"resolution": 1024, "rank": 16, "steps": 12, "batch": 1}}


# workers ----------------------------------------------------------------------------------------------------------

def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def run_ours(args: argparse.Namespace) -> dict:
    from dgx_pixels.lora.train import LoraTrainer, TrainConfig

    config = TrainConfig(data=args.data, base=args.checkpoint, out=args.work / "ours.safetensors", steps=args.steps,
                         rank=args.rank, lr=args.lr, resolution=args.resolution, batch=args.batch,
                         gradient_checkpointing=args.checkpointing, cpu=args.device == "cpu", progress=False,
                         memory_check=False, save_every=0, engine_dir=args.engine)
    trainer = LoraTrainer(config)
    trainer.prepare()
    device = trainer.device
    generator = torch.Generator().manual_seed(0)
    _reset_peak(device)
    times = []
    for _ in range(args.steps):
        _sync(device)
        started = time.perf_counter()
        trainer.step(generator)
        _sync(device)
        times.append(time.perf_counter() - started)
    params = trainer.lora_parameters()
    return {"step_s": times, "peak_bytes": _peak_bytes(device), "adapter_tensors": len(params),
            "adapter_values": sum(p.numel() for p in params), "losses": trainer.losses,
            "targets": "attention to_q/to_k/to_v/to_out.0 (peft)"}


def run_comfy(args: argparse.Namespace) -> dict:
    from dgx_pixels.lora.comfy_runtime import import_comfy
    from dgx_pixels.lora.dataset import load_pixels, scan_folder

    import_comfy(args.engine, cpu=args.device == "cpu")
    import comfy.model_management
    import comfy.sd
    import comfy_extras.nodes_train as nodes_train

    device = comfy.model_management.get_torch_device()
    model, clip, vae, _ = comfy.sd.load_checkpoint_guess_config(str(args.checkpoint), output_vae=True,
                                                                output_clip=True)
    dataset = scan_folder(args.data, args.resolution, "pixel art", "")
    latents, positive = [], []
    with torch.no_grad():
        for sample in dataset.samples:
            latents.append({"samples": vae.encode(torch.from_numpy(load_pixels(sample))[None]).cpu()})
            cond, pooled = clip.encode_from_tokens(clip.tokenize(sample.caption), return_pooled=True)
            positive.append([[cond, {} if pooled is None else {"pooled_output": pooled}]])
    if len(latents) < 2:
        raise SystemExit("ComfyUI 0.3.75's TrainLoraNode needs at least two latents; give --images 2 or more")

    starts: list[float] = []
    original = nodes_train.TrainSampler.fwd_bwd

    def timed_fwd_bwd(self, *a, **k):
        _sync(device)
        starts.append(time.perf_counter())
        return original(self, *a, **k)

    nodes_train.TrainSampler.fwd_bwd = timed_fwd_bwd
    dtype = "bf16" if device.type == "cuda" else "fp32"
    _reset_peak(device)
    output = nodes_train.TrainLoraNode.execute(
        model=[model], latents=latents, positive=positive, batch_size=[args.batch], steps=[args.steps],
        grad_accumulation_steps=[1], learning_rate=[args.lr], rank=[args.rank], optimizer=["AdamW"],
        loss_function=["MSE"], seed=[0], training_dtype=[dtype], lora_dtype=[dtype], algorithm=["LoRA"],
        gradient_checkpointing=[args.checkpointing], existing_lora=["[None]"])
    _sync(device)
    ended = time.perf_counter()
    lora_sd, loss_map = output.result[1], output.result[2]
    marks = [*starts, ended]
    return {"step_s": [b - a for a, b in zip(marks, marks[1:])], "peak_bytes": _peak_bytes(device),
            "adapter_tensors": len(lora_sd), "adapter_values": sum(t.numel() for t in lora_sd.values()),
            "losses": list(loss_map.get("loss", [])), "targets": "every conv/linear weight + every bias (ComfyUI adapters)"}


def worker_main(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    result = run_ours(args) if args.worker == "ours" else run_comfy(args)
    print(RESULT_PREFIX + json.dumps(result), flush=True)  # noqa: T201 (read by the parent process)


# the parent -------------------------------------------------------------------------------------------------------

def write_images(folder: Path, count: int) -> Path:
    """``count`` random 16×16 sprites with a caption each (the trainer upscales them with nearest)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"sprite{index}.png")
        (folder / f"sprite{index}.txt").write_text("pixel art sprite")
    return folder


def build_checkpoint(args: argparse.Namespace) -> Path:
    if args.checkpoint:
        return Path(args.checkpoint)
    if args.model == "tiny":
        existing = args.engine / "models" / "checkpoints" / "dgx-pixels-tiny-sd15.safetensors"
        if existing.is_file():
            return existing
    out = args.work / f"{args.model}.safetensors"
    device = "cuda" if args.model == "sdxl" and args.device == "cuda" else "cpu"
    command = [sys.executable, "-m", "dgx_pixels.lora.tiny_checkpoint", "--engine", str(args.engine), "--out",
               str(out), "--model", args.model, "--device", device]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return out


def run_worker(kind: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--engine", str(args.engine),
               "--checkpoint", str(args.checkpoint), "--data", str(args.data), "--work", str(args.work),
               "--device", args.device, "--steps", str(args.steps), "--rank", str(args.rank), "--lr", str(args.lr),
               "--resolution", str(args.resolution), "--batch", str(args.batch)]
    if not args.checkpointing:
        command.append("--no-checkpointing")
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        return {"error": (done.stderr or done.stdout)[-2000:]}
    return json.loads(lines[-1][len(RESULT_PREFIX):])


def summarize(result: dict) -> dict:
    if "error" in result:
        return result
    timed = result["step_s"][1:] or result["step_s"]
    median = statistics.median(timed)
    return {**result, "median_step_s": median, "steps_per_s": 1.0 / median if median > 0 else 0.0}


def table(results: dict[str, dict], args: argparse.Namespace) -> str:
    ours, comfy = results["dgx-pixels"], results["comfyui TrainLoraNode"]
    lines = [f"LoRA training, {args.model} model on {args.device_name}: {args.resolution}², rank {args.rank}, batch "
             f"{args.batch}, {args.steps} steps ({args.images} images), gradient checkpointing "
             f"{'on' if args.checkpointing else 'off'}, {'bf16 autocast' if args.device == 'cuda' else 'fp32'}",
             f"{'trainer':<24}{'median s/step':>14}{'steps/s':>10}{'vs comfy':>10}{'peak memory':>14}"
             f"{'adapter tensors':>17}{'adapter values':>16}"]
    for name, result in results.items():
        if "error" in result:
            lines.append(f"{name:<24}  failed: {result['error'].strip().splitlines()[-1] if result['error'] else '?'}")
            continue
        ratio = (result["steps_per_s"] / comfy["steps_per_s"]) if "error" not in comfy else float("nan")
        lines.append(f"{name:<24}{result['median_step_s']:>14.3f}{result['steps_per_s']:>10.2f}{ratio:>9.2f}x"
                     f"{result['peak_bytes'] / 2**30:>10.2f} GiB{result['adapter_tensors']:>17}"
                     f"{result['adapter_values']:>16,}")
    if "error" not in ours and "error" not in comfy:
        lines.append(f"memory ours / comfy: {ours['peak_bytes'] / comfy['peak_bytes']:.2f}; peak memory is "
                     + ("torch.cuda.max_memory_allocated" if args.device == "cuda" else "the worker's peak RSS"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--engine", type=Path, default=None, help="ComfyUI folder (default: the pinned engine)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="use this checkpoint instead of building one")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--rank", type=int, default=None)
    parser.add_argument("--resolution", type=int, default=None)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--images", type=int, default=2, help="training images (ComfyUI's node needs at least 2)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--no-checkpointing", dest="checkpointing", action="store_false")
    parser.add_argument("--json", type=Path, default=None, help="write the raw results here")
    parser.add_argument("--work", type=Path, default=None, help="folder for the checkpoint, images and LoRAs")
    parser.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=["ours", "comfy"], default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key, value in PRESETS[args.model].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.engine is None:
        from dgx_pixels.engine.local import find_engine_dir

        args.engine = find_engine_dir()
    if args.worker:
        worker_main(args)
        return 0

    with tempfile.TemporaryDirectory(prefix="dgx-bench-lora-") as temporary:
        args.work = args.work or Path(temporary)
        args.work.mkdir(parents=True, exist_ok=True)
        args.data = write_images(args.work / "images", args.images)
        started = time.perf_counter()
        args.checkpoint = build_checkpoint(args)
        build_s = time.perf_counter() - started
        args.device_name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({platform.machine()})"
        results = {"dgx-pixels": summarize(run_worker("ours", args)),
                   "comfyui TrainLoraNode": summarize(run_worker("comfy", args))}
    print(table(results, args))  # noqa: T201 (the benchmark's output)
    if args.json:
        settings = {key: getattr(args, key) for key in ("model", "device", "device_name", "steps", "rank",
                                                         "resolution", "batch", "images", "lr", "checkpointing")}
        raw = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "settings": settings, "checkpoint_build_s": build_s,
               "torch": torch.__version__, "python": platform.python_version(), "results": results}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(raw, indent=1))
    return 0 if all("error" not in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
