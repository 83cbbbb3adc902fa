"""Finetuning: LoRA adapters for the chat model and a finetuned embedder, on CPU (issue 18)."""
