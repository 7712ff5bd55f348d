// oneDNN's C API (Debian's libdnnl-dev): the matmul primitive behind tsrec's opt-in bf16
// products (Sources/TSRec/Tensor/BF16Matmul.swift).
#include <oneapi/dnnl/dnnl.h>
