/* status.c - status sentences and the version query. */
#include "posenc.h"

const char *posenc_strerror(posenc_status status)
{
    switch (status) {
    case POSENC_OK: return "success";
    case POSENC_ERR_NULL: return "a required pointer argument is NULL";
    case POSENC_ERR_DIM: return "invalid head or rotary dimension (zero, odd rotary_dim, rotary_dim > head_dim, or too large)";
    case POSENC_ERR_SHAPE: return "invalid shape: a head count is zero or sizes overflow";
    case POSENC_ERR_STRIDE: return "strides make rows overlap";
    case POSENC_ERR_OVERLAP: return "the destination partially overlaps a source";
    case POSENC_ERR_ENUM: return "unknown enum value or flag";
    case POSENC_ERR_PARAM: return "a numeric parameter is non-finite, out of range or inconsistent";
    case POSENC_ERR_RANGE: return "a position is outside the supported range";
    case POSENC_ERR_STRUCT_SIZE: return "unsupported struct_size in a size-tagged struct";
    case POSENC_ERR_NOMEM: return "out of memory";
    case POSENC_ERR_UNSUPPORTED: return "unknown ISA or not supported by this CPU";
    default: return "unknown status code";
    }
}

#define STR2(x) #x
#define STR(x) STR2(x)

const char *posenc_version(void)
{
    return STR(POSENC_VERSION_MAJOR) "." STR(POSENC_VERSION_MINOR) "." STR(POSENC_VERSION_PATCH);
}

uint32_t posenc_version_number(void)
{
    return POSENC_VERSION_MAJOR * 10000u + POSENC_VERSION_MINOR * 100u + POSENC_VERSION_PATCH;
}
