#ifndef CGNUPLOT_H
#define CGNUPLOT_H
#ifdef __cplusplus
extern "C" {
#endif

/// Runs a gnuplot script through gnuplot-iostream (a pipe to `gnuplot`).
/// Returns 0 on success, otherwise non-zero and a message in `error` (NUL-terminated, at most `errorCapacity` bytes).
int tsrec_gnuplot_run(const char *script, char *error, unsigned long errorCapacity);

#ifdef __cplusplus
}
#endif
#endif
