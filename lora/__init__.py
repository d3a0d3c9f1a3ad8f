"""LoRA loading helpers and the peft-based trainer."""
