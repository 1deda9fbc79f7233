// hiredis for Swift: the formatter and the reply reader (the socket is NIO's).
#include <hiredis/hiredis.h>
#include <hiredis/read.h>

/// `redisReaderGetError` is a macro in hiredis 0.14.
static inline const char *chiredis_reader_error(redisReader *reader) {
    return reader->errstr;
}
