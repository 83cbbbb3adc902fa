"""Finetuning (issue 18): LoRA adapters for the local chat model, a finetuned embedder.

* :mod:`ragline.finetune.data`: the training files (chat, preference, embedding triples),
  checked before any long work.
* :mod:`ragline.finetune.chat`: LoRA with peft + transformers on the base model's own GGUF,
  loss on the answer only, checkpointed; :mod:`ragline.finetune.gguf_lora` writes the adapter
  in llama.cpp's GGUF LoRA format, served unmerged as the model ``<base>+NAME``.
* :mod:`ragline.finetune.embedder`: all-MiniLM-L6-v2 with the multiple-negatives ranking loss,
  exported to ONNX int8; :mod:`ragline.finetune.reindex` re-embeds a collection with it.

torch, transformers, peft and sentence-transformers come with the ``finetune`` extra and are
imported only when training starts.
"""
