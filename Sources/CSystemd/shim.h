// libsystemd for Swift: sd_notify, plus a typed prctl for PR_SET_PDEATHSIG
// (prctl is variadic and not imported).
#include <systemd/sd-daemon.h>
#include <sys/prctl.h>

static inline int csystemd_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0, 0, 0);
}

// signalfd(2) for the supervisor's poll loop (not in Swift's Glibc module).
#include <sys/signalfd.h>

// malloc_trim(3), for a worker to give back the pages a one-off load left free (not in Swift's Glibc module).
#include <malloc.h>
