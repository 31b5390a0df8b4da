"""What machine a figure was measured on: the CPU's model, cores and the vector extensions that
decide charrnn's speed (AVX2, AVX-512, AVX512-BF16, AMX). Read from /proc/cpuinfo; no TensorFlow."""

import os
import platform

# /proc/cpuinfo flag -> the name figures are reported with, in the order they are printed.
VECTOR_EXTENSIONS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX"}


def cpu_description(cpuinfo: str = "/proc/cpuinfo") -> str:
    """'<model name>, <n> cores, <extensions>', e.g. 'Intel(R) Xeon(R) Processor, 2 cores, AVX2 AVX-512
    AVX512-BF16 AMX'; 'no AVX2' where it has none of them. Elsewhere than Linux, what Python knows."""
    try:
        with open(cpuinfo) as f:
            lines = f.read().splitlines()
    except OSError:
        return f"{platform.processor() or 'CPU'}, {os.cpu_count()} cores"
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())
    extensions = " ".join(name for flag, name in VECTOR_EXTENSIONS.items() if flag in flags) or "no AVX2"
    return f"{names[0] if names else platform.processor() or 'CPU'}, {len(names) or os.cpu_count()} cores, {extensions}"
