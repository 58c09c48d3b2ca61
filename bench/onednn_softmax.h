// onednn_softmax.h - the oneDNN peer for the softmax benchmarks: its softmax primitive, in place, one thread.
#ifndef POSENC_BENCH_ONEDNN_SOFTMAX_H
#define POSENC_BENCH_ONEDNN_SOFTMAX_H

#include <cstddef>
#include <memory>
#include <string>

// Limit oneDNN to one thread (Debian builds it with OpenMP). Call before any other oneDNN use.
// Returns the thread count oneDNN will use from now on.
int onednn_use_one_thread();

// "oneDNN 2.6.3 (OpenMP, 1 thread)": version and threading, for the benchmark's context.
std::string onednn_description();

// oneDNN's softmax (softmax_accurate, forward inference) over the last axis of a row-major rows x cols f32
// matrix, in place. oneDNN has no ALiBi bias and no causal mask: it always computes a plain softmax.
class OnednnSoftmax {
public:
    OnednnSoftmax(size_t rows, size_t cols);
    ~OnednnSoftmax();
    OnednnSoftmax(const OnednnSoftmax &) = delete;
    OnednnSoftmax &operator=(const OnednnSoftmax &) = delete;

    // Runs the primitive on data (rows x cols floats) and waits. Returns 0, or -1 if oneDNN threw.
    int run(float *data);
    // oneDNN's name for the implementation it chose, e.g. "jit:avx512_core".
    std::string implementation() const;

private:
    struct Primitive;
    std::unique_ptr<Primitive> primitive_;
};

#endif // POSENC_BENCH_ONEDNN_SOFTMAX_H
