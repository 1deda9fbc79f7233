import Foundation

/// An LD_PRELOAD library that moves a process's wall clock (CLOCK_REALTIME
/// through `clock_gettime`, `gettimeofday`, `time`) by SCRIBES_TEST_CLOCK_SKEW
/// seconds (or by the seconds in the file that it names, which a test may
/// change to step the clock) and leaves the monotonic clocks and every timer alone, as a host
/// whose clock is wrong would. (libfaketime also shifts absolute monotonic
/// timerfd deadlines, which stalls or spins libdispatch's timers.)
public enum WallClockSkew {
    public static let variable = "SCRIBES_TEST_CLOCK_SKEW"

    static let source = """
        #define _GNU_SOURCE
        #include <dlfcn.h>
        #include <stdio.h>
        #include <stdlib.h>
        #include <sys/time.h>
        #include <time.h>

        static int (*real_clock_gettime)(clockid_t, struct timespec *);

        /* The variable holds seconds, or the path of a file holding them, read
           again every 50 ms, so a test can step the clock while the process runs. */
        static long skew(void) {
            static long seconds;
            static int read;
            static long long next_read;
            const char *text = getenv("\(variable)");
            if (text && text[0] == '/') {
                struct timespec now;
                real_clock_gettime(CLOCK_MONOTONIC, &now);
                long long nanoseconds = now.tv_sec * 1000000000LL + now.tv_nsec;
                if (nanoseconds >= next_read) {
                    FILE *file = fopen(text, "r");
                    if (file) { if (fscanf(file, "%ld", &seconds) != 1) seconds = 0; fclose(file); }
                    next_read = nanoseconds + 50000000LL;
                }
                return seconds;
            }
            if (!read) { seconds = text ? atol(text) : 0; read = 1; }
            return seconds;
        }

        int clock_gettime(clockid_t clock, struct timespec *now) {
            if (!real_clock_gettime) real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
            int result = real_clock_gettime(clock, now);
            if (result == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) now->tv_sec += skew();
            return result;
        }

        int gettimeofday(struct timeval *restrict now, void *restrict zone) {
            struct timespec spec;
            clock_gettime(CLOCK_REALTIME, &spec);
            if (now) { now->tv_sec = spec.tv_sec; now->tv_usec = spec.tv_nsec / 1000; }
            (void)zone;
            return 0;
        }

        time_t time(time_t *now) {
            struct timespec spec;
            clock_gettime(CLOCK_REALTIME, &spec);
            if (now) *now = spec.tv_sec;
            return spec.tv_sec;
        }
        """

    /// Builds the library (once per test process) with the toolchain's clang; its path.
    public static func library() throws -> String {
        try built.get()
    }

    private static let built = Result { () throws -> String in
        let directory = try ProcessRunner.emptyDirectory()
        try source.write(toFile: directory + "/skew.c", atomically: true, encoding: .utf8)
        let output = try ProcessRunner.run("/usr/bin/env", ["clang", "-shared", "-fPIC", "-O2", "-o", directory + "/skew.so", directory + "/skew.c", "-ldl"])
        guard output.status == 0 else { throw TestEnvironmentError(message: "cannot build the clock-skew library: \(output.standardError)") }
        return directory + "/skew.so"
    }
}
