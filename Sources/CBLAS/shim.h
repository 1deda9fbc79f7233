// OpenBLAS's CBLAS declarations (Debian's libopenblas-dev), for their types only:
// the library is not linked but opened with dlopen by the processes that run
// the sentence encoder (Sources/Embeddings/SentenceEncoder.swift). Linked, its
// constructor would start a thread in every process, the supervisor included,
// before main blocks the signals it reads from its signalfd.
#include <cblas.h>
#include <dlfcn.h>
