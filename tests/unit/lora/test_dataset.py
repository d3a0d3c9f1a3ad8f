"""The training folder: captions, buckets, nearest-neighbour enlargement and the bad-input errors; plus the
trainer's checks that need no model (memory, resume state, options)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dgx_pixels.lora.dataset import DatasetError, bucket_sizes, fit_to_bucket, load_pixels, nearest_bucket, scan_folder
from dgx_pixels.lora.train import (
    CheckpointMismatchError,
    InsufficientMemoryError,
    TrainConfig,
    TrainError,
    check_memory,
    estimate_memory_bytes,
    read_resume_state,
)


def sprite(size=(16, 16), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 4), dtype=np.uint8), "RGBA")


def test_buckets_cover_aspect_ratios():
    buckets = bucket_sizes(512)
    assert (512, 512) in buckets
    assert all(w % 64 == 0 and h % 64 == 0 and w * h <= 512 * 512 for w, h in buckets)
    assert nearest_bucket(16, 16, buckets) == (512, 512)
    wide = nearest_bucket(64, 32, buckets)
    assert 1.7 < wide[0] / wide[1] < 2.3


def test_nearest_enlargement_keeps_square_blocks():
    image = sprite((16, 16))
    fitted, factor = fit_to_bucket(image, (64, 64))
    assert factor == 4 and fitted.size == (64, 64)
    pixels = np.asarray(fitted).reshape(16, 4, 16, 4, 3)
    assert (pixels == pixels[:, :1, :, :1, :]).all()


def test_scan_folder_captions_default_and_trigger(tmp_path):
    sprite(seed=1).save(tmp_path / "a.png")
    sprite((16, 32), seed=2).save(tmp_path / "b.png")
    (tmp_path / "b.txt").write_text("knight with sword\n")
    dataset = scan_folder(tmp_path, 64, default_caption="pixel art", trigger="pxl")
    captions = {s.path.name: s.caption for s in dataset.samples}
    assert captions == {"a.png": "pxl, pixel art", "b.png": "pxl, knight with sword"}
    assert dataset.notices and "a.png" in dataset.notices[0] and "default caption" in dataset.notices[0]
    assert len(dataset.buckets()) == 2
    assert dataset.native_pixel_scale() >= 2
    assert load_pixels(dataset.samples[0]).shape == (64, 64, 3)


def test_empty_missing_and_unreadable_folders(tmp_path):
    with pytest.raises(DatasetError, match="no images"):
        scan_folder(tmp_path, 64)
    with pytest.raises(DatasetError, match="does not exist"):
        scan_folder(tmp_path / "nope", 64)
    sprite().save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(DatasetError, match="broken.png"):
        scan_folder(tmp_path, 64)


def test_memory_check_and_estimate():
    small = estimate_memory_bytes(2 * 2**30, 512, 1, True)
    assert small < estimate_memory_bytes(2 * 2**30, 512, 1, False) < estimate_memory_bytes(2 * 2**30, 1024, 4, False)
    check_memory(small, small + 1, "lower --batch")
    with pytest.raises(InsufficientMemoryError, match="lower --batch"):
        check_memory(small, small // 2, "lower --batch")


def test_resume_state_rank_alpha_mismatch(tmp_path):
    path = tmp_path / "x.safetensors.train-state.pt"
    torch.save({"format": 1, "rank": 8, "alpha": 4.0, "step": 3}, path)
    assert read_resume_state(path, 8, 4.0)["step"] == 3
    with pytest.raises(CheckpointMismatchError, match="rank 8 and alpha 4"):
        read_resume_state(path, 16, 4.0)
    with pytest.raises(CheckpointMismatchError, match="--alpha 4"):
        read_resume_state(path, 8, 8.0)


@pytest.mark.parametrize(("field", "value"), [("steps", 0), ("rank", 0), ("lr", 2.0), ("resolution", 100),
                                              ("batch", 0), ("out", "x.ckpt")])
def test_bad_options(tmp_path, field, value):
    config = TrainConfig(data=tmp_path, base="b", out=tmp_path / "o.safetensors")
    setattr(config, field, value)
    with pytest.raises(TrainError):
        config.validate()


def _folder_with_sprite(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    sprite().save(data / "a.png")
    return data


def test_truncated_base_and_too_little_memory_fail_before_any_write(tmp_path):
    from safetensors.torch import save_file

    from dgx_pixels.lora.train import LoraTrainer

    data = _folder_with_sprite(tmp_path)
    base = tmp_path / "base.safetensors"
    save_file({"w": torch.zeros(1000)}, str(base))
    base.write_bytes(base.read_bytes()[:-100])
    out = tmp_path / "out" / "lora.safetensors"
    config = TrainConfig(data=data, base=str(base), out=out, engine_dir=tmp_path, cpu=True)
    with pytest.raises(TrainError, match="truncated"):
        LoraTrainer(config).check_inputs()
    save_file({"w": torch.zeros(1000)}, str(base))
    config.batch, config.resolution = 100_000, 1024
    with pytest.raises(InsufficientMemoryError, match="lower --batch"):
        LoraTrainer(config).check_inputs()
    with pytest.raises(TrainError, match="not found"):
        LoraTrainer(TrainConfig(data=data, base="missing.safetensors", out=out, engine_dir=tmp_path)).check_inputs()
    assert not out.exists()


def test_cli_reports_an_empty_folder(tmp_path, capsys):
    from dgx_pixels.cli.main import main

    (tmp_path / "empty").mkdir()
    code = main(["train-lora", "--data", str(tmp_path / "empty"), "--base", "x.safetensors", "--out",
                 str(tmp_path / "o.safetensors")])
    assert code == 2
    assert "has no images" in capsys.readouterr().err
