// OpenBLAS (Debian's libopenblas-dev): cblas_sgemm for the sentence encoder's
// matrix products, and openblas_set_num_threads to keep each worker on one core.
#include <cblas.h>
