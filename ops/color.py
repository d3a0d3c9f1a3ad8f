"""Colour space conversion (sRGB <-> OKLab), the input checks shared by every pixel op, and MASK <-> alpha."""

from __future__ import annotations

import torch

# OKLab matrices from Björn Ottosson, "A perceptual color space for image processing" (2020).
_RGB_TO_LMS = torch.tensor([
    [0.4122214708, 0.5363325363, 0.0514459929],
    [0.2119034982, 0.6806995451, 0.1073969566],
    [0.0883024619, 0.2817188376, 0.6299787005],
])
_LMS_TO_LAB = torch.tensor([
    [0.2104542553, 0.7936177850, -0.0040720468],
    [1.9779984951, -2.4285922050, 0.4505937099],
    [0.0259040371, 0.7827717662, -0.8086757660],
])
_LAB_TO_LMS = torch.tensor([
    [1.0, 0.3963377774, 0.2158037573],
    [1.0, -0.1055613458, -0.0638541728],
    [1.0, -0.0894841775, -1.2914855480],
])
_LMS_TO_RGB = torch.tensor([
    [4.0767416621, -3.3077115913, 0.2309699292],
    [-1.2684380046, 2.6097574011, -0.3413193965],
    [-0.0041960863, -0.7034186147, 1.7076147010],
])


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Return linear-light values for sRGB-encoded ``rgb`` in 0..1 (any shape)."""
    return torch.where(rgb <= 0.04045, rgb / 12.92, ((rgb.clamp(min=0) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    """Return sRGB-encoded values for linear-light ``lin`` (clamped to 0..1)."""
    lin = lin.clamp(0.0, 1.0)
    return torch.where(lin <= 0.0031308, lin * 12.92, 1.055 * lin ** (1 / 2.4) - 0.055)


def rgb_to_oklab(rgb: torch.Tensor) -> torch.Tensor:
    """Return OKLab ``[..., 3]`` for sRGB ``[..., 3]`` in 0..1 (computed in float32 on ``rgb``'s device)."""
    rgb = rgb.float()
    lms = srgb_to_linear(rgb) @ _RGB_TO_LMS.to(rgb.device).T
    return torch.sign(lms) * lms.abs().pow(1 / 3) @ _LMS_TO_LAB.to(rgb.device).T


def oklab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Return sRGB ``[..., 3]`` in 0..1 for OKLab ``[..., 3]`` (out-of-gamut colours are clamped)."""
    lab = lab.float()
    lms = (lab @ _LAB_TO_LMS.to(lab.device).T) ** 3
    return linear_to_srgb(lms @ _LMS_TO_RGB.to(lab.device).T)


def check_image(image: torch.Tensor, name: str = "image", min_side: int = 2) -> torch.Tensor:
    """Return ``image`` as float32 [B,H,W,C] (C=3 or 4) after checking it; raise ValueError naming ``name`` otherwise."""
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"{name} must be an IMAGE tensor [B,H,W,C], got {type(image).__name__}")
    if image.dim() == 3 and image.shape[-1] in (3, 4):
        image = image.unsqueeze(0)
    if image.dim() != 4:
        raise ValueError(f"{name} must be [B,H,W,C] with C=3 (RGB) or 4 (RGBA), got shape {tuple(image.shape)}")
    b, h, w, c = image.shape
    if b == 0:
        raise ValueError(f"{name} is an empty batch (0 images); connect at least one image")
    if c == 1:
        raise ValueError(f"{name} is greyscale [B,H,W,1]; convert it to RGB (3 channels) first, "
                         "for example by repeating the channel")
    if c not in (3, 4):
        raise ValueError(f"{name} has {c} channels; expected 3 (RGB) or 4 (RGBA)")
    if h < min_side or w < min_side:
        raise ValueError(f"{name} is {w}x{h}; it must be at least {min_side}x{min_side} pixels")
    image = image.float()
    if torch.isnan(image).any():
        raise ValueError(f"{name} contains NaN values; check the node that produced it")
    return image.clamp(0.0, 1.0)


def check_mask(mask: torch.Tensor | None, image: torch.Tensor, name: str = "mask") -> torch.Tensor | None:
    """Return ``mask`` as float32 [B,H,W] matching ``image`` (a single mask is repeated over the batch).

    Raises ValueError when its size differs from the image's or it holds NaN.
    """
    if mask is None:
        return None
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    if mask.dim() != 3:
        raise ValueError(f"{name} must be [B,H,W], got shape {tuple(mask.shape)}")
    b, h, w = image.shape[:3]
    if tuple(mask.shape[1:]) != (h, w):
        raise ValueError(f"{name} is {mask.shape[2]}x{mask.shape[1]} but the image is {w}x{h}; "
                         "they must be the same size")
    if mask.shape[0] not in (1, b):
        raise ValueError(f"{name} has a batch of {mask.shape[0]} but the image has {b}; use 1 or {b} masks")
    if torch.isnan(mask).any():
        raise ValueError(f"{name} contains NaN values")
    return mask.float().to(image.device).expand(b, h, w).clamp(0.0, 1.0)


LOAD_IMAGE_NO_ALPHA_SIDE = 64
"""ComfyUI's LoadImage gives an image without alpha a MASK of zeros 64×64, whatever the image's size."""


def alpha_from_mask(mask: torch.Tensor | None, image: torch.Tensor, name: str = "mask") -> torch.Tensor | None:
    """Return alpha [B,H,W] (1 = opaque) for ``image`` from a ComfyUI MASK (1 = transparent), checked as
    :func:`check_mask` does; None when ``mask`` is None or is LoadImage's stand-in for "no alpha" (all zeros,
    64×64, on an image of another size), so a workflow wiring LoadImage's MASK works for RGB images too."""
    if (isinstance(mask, torch.Tensor) and mask.dim() in (2, 3)
            and tuple(mask.shape[-2:]) == (LOAD_IMAGE_NO_ALPHA_SIDE, LOAD_IMAGE_NO_ALPHA_SIDE)
            and tuple(image.shape[-3:-1]) != (LOAD_IMAGE_NO_ALPHA_SIDE, LOAD_IMAGE_NO_ALPHA_SIDE)
            and not bool(mask.any())):
        return None
    mask = check_mask(mask, image, name)
    return None if mask is None else 1.0 - mask


def mask_from_alpha(image: torch.Tensor) -> torch.Tensor:
    """Return the ComfyUI MASK [B,H,W] (1 = transparent) of an IMAGE batch: 1 - alpha, all zeros for RGB."""
    if image.shape[-1] == 4:
        return 1.0 - image[..., 3]
    return torch.zeros_like(image[..., 0])
