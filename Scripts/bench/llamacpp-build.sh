#!/usr/bin/env bash
# Builds llama.cpp's `llama-bench` from the llama-cpp-python sdist on PyPI (the only registry we use),
# for the SmolLM2 decode comparison in BENCHMARKS.md. Only the llama-bench target is built (~10 min
# on 2 idle cores; the full pip build of llama-cpp-python took > 25 min here).
# NOTE: GGML_NATIVE=ON built a binary that died with SIGILL on this VM (it advertises AMX and
# AVX512-FP16); the explicit AVX-512 flag set below runs.
# Usage: bash Scripts/bench/llamacpp-build.sh [DIR]  (default /tmp/llamacpp); prints the llama-bench path.
set -euo pipefail
dir="${1:-/tmp/llamacpp}"
py="${SCION_PYTHON:-python3}"
mkdir -p "$dir"
if [ ! -d "$dir/src" ]; then
  "$py" -m pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d "$dir" >&2
  mkdir -p "$dir/src" && tar -xzf "$dir"/llama_cpp_python-*.tar.gz -C "$dir/src"
fi
src=$(echo "$dir"/src/llama_cpp_python-*/vendor/llama.cpp)
cmake -S "$src" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_OPENSSL=OFF \
  -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON \
  -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON >&2
cmake --build "$dir/build" --target llama-bench -j "$(nproc)" >&2
echo "$dir/build/bin/llama-bench"
