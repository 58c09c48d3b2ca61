/* stream.c - the memory roofline: one in-place read and write of every float, as fast as the compiler can. */
#include "baselines.h"

void stream_scale_in_place(float *data, size_t n, float factor)
{
    for (size_t i = 0; i < n; i++)
        data[i] *= factor;
}
