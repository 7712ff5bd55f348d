#!/usr/bin/env bash
# Prints the OPENBLAS_CORETYPE to use on this CPU, or nothing to let OpenBLAS decide.
# Debian's OpenBLAS 0.3.21 takes some recent CPUs for "Prescott" (no AVX kernels at all);
# naming the core from the CPU's own feature flags restores the fast kernels.
# The same rule as BLAS.chosenCoreType (Sources/TSRec/Tensor/BLAS.swift):
#   TSREC_OPENBLAS_CORETYPE, when set, wins as it is;
#   an exported OPENBLAS_CORETYPE is kept unless it is narrower than this CPU's kernels
#   (some machines export Haswell for every program, also on AVX-512 CPUs where SkylakeX
#   runs sgemm about twice as fast); then the CPU's own choice replaces it, with a note on stderr.
if [ -n "${TSREC_OPENBLAS_CORETYPE:-}" ]; then echo "$TSREC_OPENBLAS_CORETYPE"; exit 0; fi
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
case " $flags " in
  *" avx512f "*" avx512bw "*|*" avx512bw "*" avx512f "*) recommended=SkylakeX ;;
  *" avx2 "*) recommended=Haswell ;;
  *) recommended= ;;
esac
class() {   # SIMD width class of a core name: 3 AVX-512, 2 AVX2, 1 AVX, 0 older, empty unknown
  case "${1,,}" in
    skylakex|cooperlake|sapphirerapids) echo 3 ;;
    haswell|zen|skylake|excavator) echo 2 ;;
    sandybridge|bulldozer|piledriver|steamroller) echo 1 ;;
    prescott|core2|penryn|dunnington|nehalem|atom|barcelona|opteron|katmai|northwood) echo 0 ;;
  esac
}
set_core=${OPENBLAS_CORETYPE:-}
if [ -n "$set_core" ]; then
  have=$(class "$set_core"); best=$(class "$recommended")
  if [ -n "$recommended" ] && [ -n "$have" ] && [ -n "$best" ] && [ "$have" -lt "$best" ]; then
    echo "note: OPENBLAS_CORETYPE=$set_core from the environment is narrower than this CPU's $recommended kernels: using $recommended (set TSREC_OPENBLAS_CORETYPE=$set_core to keep $set_core)" >&2
    echo "$recommended"
  else
    echo "$set_core"
  fi
  exit 0
fi
echo "$recommended"
