# Checks on a release binary as it ships. Source it, then call
# check_release_binary PATH: it fails, saying why, when the binary links the
# Swift runtime or ICU dynamically, contains Foundation's ICU (~45 MB and
# ~5 MB of RSS per worker for nothing we use), carries an RPATH/RUNPATH, or
# can read SCRIBES_TEST_HOOKS (debug builds only: TestHooks.swift).

check_release_binary() {
    local binary=$1 linked
    linked=$(ldd "$binary")
    if grep -qiE "libswift|libFoundation|libdispatch|libBlocksRuntime|icu" <<<"$linked"; then
        echo "$binary links the Swift runtime or ICU dynamically:" >&2
        grep -iE "libswift|libFoundation|libdispatch|libBlocksRuntime|icu" <<<"$linked" >&2
        return 1
    fi
    # grep on the file itself, no pipe: under pipefail a pipe into a quiet grep reports a match as none.
    # ICU's data archive names itself icudtNNl (in a stripped binary too); the module names are in its metadata.
    if grep -qaE "icudt[0-9]+l|FoundationInternationalization|_FoundationICU" "$binary"; then
        echo "$binary contains Foundation's ICU (a dependency imports Foundation instead of FoundationEssentials)" >&2
        return 1
    fi
    if grep -qaE "block-event-loops-on-sigusr2|limiter-clock-offset-ms|worker-exit-at-start" "$binary"; then
        echo "$binary can read SCRIBES_TEST_HOOKS (a test hook's name is in it): build it in release configuration" >&2
        return 1
    fi
    local dynamic
    dynamic=$(readelf -d "$binary")
    if grep -qE "\\((RPATH|RUNPATH)\\)" <<<"$dynamic"; then
        echo "$binary has an RPATH or RUNPATH:" >&2
        grep -E "RPATH|RUNPATH" <<<"$dynamic" >&2
        return 1
    fi
}
