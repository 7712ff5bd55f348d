#!/usr/bin/env bash
# Prints the OPENBLAS_CORETYPE to use on this CPU, or nothing to let OpenBLAS decide.
# Debian's OpenBLAS 0.3.21 takes some recent CPUs for "Prescott" (no AVX kernels at all);
# naming the core from the CPU's own feature flags restores the fast kernels.
# A value the user already exported wins.
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then echo "$OPENBLAS_CORETYPE"; exit 0; fi
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
case " $flags " in
  *" avx512f "*" avx512bw "*|*" avx512bw "*" avx512f "*) echo SkylakeX ;;
  *" avx2 "*) echo Haswell ;;
  *) ;;
esac
