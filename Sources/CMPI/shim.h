// Open MPI's C interface (Debian libopenmpi-dev; flags from `pkg-config ompi-c`). Open MPI spells
// its predefined handles as macros over the addresses of globals (MPI_COMM_WORLD is
// `(MPI_Comm) &ompi_mpi_comm_world`), which Swift cannot import: these inline functions return them.
#include <mpi.h>

static inline MPI_Comm tsrec_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype tsrec_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype tsrec_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype tsrec_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype tsrec_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op tsrec_mpi_sum(void) { return MPI_SUM; }
static inline void *tsrec_mpi_in_place(void) { return MPI_IN_PLACE; }
