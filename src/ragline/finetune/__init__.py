"""Finetuning: LoRA adapters for the chat model and a finetuned embedder, trained on CPU (issue 18)."""
