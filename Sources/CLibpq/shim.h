// libpq for Swift (pkg-config adds -I/usr/include/postgresql).
#include <libpq-fe.h>

// PG_DIAG_* are character-literal macros, which Swift does not import.
static const int clibpq_diag_sqlstate = PG_DIAG_SQLSTATE;
static const int clibpq_diag_constraint_name = PG_DIAG_CONSTRAINT_NAME;
