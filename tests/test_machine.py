"""What the figures name the CPU with, and the bfloat16 hint, from a /proc/cpuinfo of one's choosing."""

import pytest

from charrnn.core.machine import bfloat16_hint, cpu_description

AVX2_ONLY = "fpu sse sse2 avx avx2 fma"
WITH_BF16 = AVX2_ONLY + " avx512f avx512_vnni avx512_bf16"


def cpuinfo(tmp_path, flags: str, cores: int = 2):
    path = tmp_path / "cpuinfo"
    path.write_text("".join(f"processor\t: {i}\nmodel name\t: AMD EPYC\nflags\t\t: {flags}\n\n" for i in range(cores)))
    return str(path)


def test_the_cpu_is_named_with_its_cores_and_vector_extensions(tmp_path):
    assert cpu_description(cpuinfo(tmp_path, WITH_BF16)) == "AMD EPYC, 2 cores, AVX2 AVX-512 AVX512-BF16"
    assert cpu_description(cpuinfo(tmp_path, AVX2_ONLY + " amx_bf16", cores=4)) == "AMD EPYC, 4 cores, AVX2 AMX"
    assert cpu_description(cpuinfo(tmp_path, "fpu sse")) == "AMD EPYC, 2 cores, no AVX2"


@pytest.mark.parametrize("flags, precision, hinted", [(WITH_BF16, "float32", True), (AVX2_ONLY + " amx_bf16", "float32", True),
                                                      (WITH_BF16, "bfloat16", False), (AVX2_ONLY, "float32", False)])
def test_a_float32_run_on_a_cpu_with_bfloat16_units_is_told_what_bfloat16_measured(tmp_path, flags, precision, hinted):
    hint = bfloat16_hint(precision, cpuinfo(tmp_path, flags))
    assert (hint is not None) == hinted
    if hinted:
        assert "--precision bfloat16" in hint and "charrnn.bench" in hint
    assert bfloat16_hint("float32", str(tmp_path / "missing")) is None  # not Linux: nothing to say
