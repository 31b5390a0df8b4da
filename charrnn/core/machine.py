"""What machine a figure was measured on: the CPU's model, cores and the vector extensions that
decide charrnn's speed (AVX2, AVX-512, AVX512-BF16, AMX). Read from /proc/cpuinfo; no TensorFlow."""

import os
import platform

# /proc/cpuinfo flag -> the name figures are reported with, in the order they are printed.
VECTOR_EXTENSIONS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX"}
BFLOAT16_FLAGS = {"avx512_bf16", "amx_bf16"}  # the CPU computes in bfloat16


def _cpuinfo_lines(cpuinfo: str):
    """The lines of /proc/cpuinfo, or None elsewhere than Linux."""
    try:
        with open(cpuinfo) as f:
            return f.read().splitlines()
    except OSError:
        return None


def _flags(lines) -> set:
    return next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())


def cpu_description(cpuinfo: str = "/proc/cpuinfo") -> str:
    """'<model name>, <n> cores, <extensions>', e.g. 'Intel(R) Xeon(R) Processor, 2 cores, AVX2 AVX-512
    AVX512-BF16 AMX'; 'no AVX2' where it has none of them. Elsewhere than Linux, what Python knows."""
    lines = _cpuinfo_lines(cpuinfo)
    if lines is None:
        return f"{platform.processor() or 'CPU'}, {os.cpu_count()} cores"
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    flags = _flags(lines)
    extensions = " ".join(name for flag, name in VECTOR_EXTENSIONS.items() if flag in flags) or "no AVX2"
    return f"{names[0] if names else platform.processor() or 'CPU'}, {len(names) or os.cpu_count()} cores, {extensions}"


def has_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes in bfloat16 (AVX512-BF16 or AMX); False where /proc/cpuinfo is missing."""
    lines = _cpuinfo_lines(cpuinfo)
    return lines is not None and bool(_flags(lines) & BFLOAT16_FLAGS)


def bfloat16_hint(precision: str, cpuinfo: str = "/proc/cpuinfo"):
    """A line telling a float32 run on a CPU with bfloat16 units (AVX512-BF16 or AMX) what
    --precision bfloat16 measured, or None. For CPU runs: a GPU's own precision is another matter."""
    if precision != "float32" or not has_bfloat16(cpuinfo):
        return None
    return ("note: this CPU has bfloat16 arithmetic (AVX512-BF16 or AMX); on such CPUs --precision bfloat16 "
            "made a 2x128 GRU's steps 1.07 to 1.09 times as fast and a 2x384 one's up to 1.76 times "
            "(docs/speed.md); python -m charrnn.bench --precision bfloat16 measures it here")
