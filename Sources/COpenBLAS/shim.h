// OpenBLAS's CBLAS interface plus the two introspection calls tsrec logs at start-up.
#include <cblas.h>
char *openblas_get_corename(void);
char *openblas_get_config(void);
int openblas_get_num_threads(void);
