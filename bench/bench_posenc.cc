// bench_posenc.cc - the benchmark suite: every libposenc kernel x variant x workload, and the baselines beside them.
//
// Names: <kernel>_f32/<implementation>/<workload>[/<pairing>], e.g. rope_f32/avx512/prefill-512/half,
// softmax_f32/avx2/decode-32768. Implementations: every variant compiled into the library (posenc_isa_name; the
// ones this CPU lacks report an error and are skipped), "dispatch" (the variant chosen at load), and the
// baselines "stream" (in-place read+write of the same bytes: the memory roofline), "textbook" (the loop a user
// writes, -O3 -march=native) and "onednn" (oneDNN's softmax primitive, one thread, when built with it).
// Every benchmark reports items/s (elements or scores) and bytes/s (bytes read + bytes written).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <tuple>
#include <vector>

#include "baselines.h"
#include "exp_limit.h"
#include "posenc.h"
#ifdef POSENC_BENCH_ONEDNN
#include "onednn_softmax.h"
#endif

namespace {

constexpr size_t kHeadDim = 128;
constexpr double kRopeBase = 10000.0;
constexpr int64_t kFarPosition = 1000000;  // the "-pos1e6" workloads start here
constexpr size_t kDramRotation = 3;         // 64 MiB buffers cycled so every pass reads DRAM, not cache

// ---- buffers ------------------------------------------------------------------------------------------------

// A 64-byte aligned float array filled with pseudo-random values in [-1, 1).
class FloatBuffer {
public:
    explicit FloatBuffer(size_t count, uint64_t seed)
    {
        const size_t bytes = std::max<size_t>(64, (count * sizeof(float) + 63) / 64 * 64);
        data_ = static_cast<float *>(std::aligned_alloc(64, bytes));
        if (!data_)
            throw std::bad_alloc();
        uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
        for (size_t i = 0; i < count; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            data_[i] = static_cast<float>(static_cast<int32_t>(state >> 32)) * 0x1p-31f;
        }
    }
    ~FloatBuffer() { std::free(data_); }
    FloatBuffer(const FloatBuffer &) = delete;
    FloatBuffer &operator=(const FloatBuffer &) = delete;
    float *data() const { return data_; }

private:
    float *data_;
};

// `copies` buffers of `count` floats, made on first use and kept for the whole run: Google Benchmark calls a
// benchmark several times while it sizes the iteration count, and workloads of equal size share them.
std::vector<float *> buffer_rotation(size_t count, size_t copies)
{
    static std::map<std::pair<size_t, size_t>, std::vector<std::unique_ptr<FloatBuffer>>> made;
    auto &buffers = made[{count, copies}];
    for (size_t i = buffers.size(); i < copies; i++)
        buffers.emplace_back(new FloatBuffer(count, count + i));
    std::vector<float *> pointers;
    for (auto &buffer : buffers)
        pointers.push_back(buffer->data());
    return pointers;
}

// ---- workloads (docs/benchmarks.md, "Workloads"): f32, head_dim 128, base 10000 ----------------------------

struct RopeWorkload {
    std::string name;
    size_t n_tokens;
    size_t n_q_heads;
    size_t n_k_heads;  // 0: q only (posenc_rope_apply); otherwise q and k together (posenc_rope_apply_qk)
    int64_t start_pos;
    size_t copies;     // buffers cycled through
    size_t q_elements() const { return n_tokens * n_q_heads * kHeadDim; }
    size_t elements() const { return n_tokens * (n_q_heads + n_k_heads) * kHeadDim; }
};

// Scores of a softmax workload. kInPlace: the rotation buffers' random values, softmaxed in place (the values
// change as the run goes on: each pass leaves probabilities). The others are out of place from a fixed source,
// so every pass sees the same values: the value-independence rows, whose time should not depend on them.
enum class ScoreValues {
    kInPlace,
    kRandom,     // uniform in [-1, 1)
    kCutoff,     // uniform in [-10000, 0): about 90% of the exponentials fall below the cutoff (exactly 0)
    kDenormal,   // logits alternating 0 and -86.5: each -86.5 column's exp / sum is below FLT_MIN
    kNan,        // random, with one NaN per row: every output is NaN
};

struct SoftmaxWorkload {
    std::string name;
    size_t n_heads;
    size_t n_rows;
    size_t n_cols;
    bool alibi;        // causal ALiBi with scale 1/sqrt(128); otherwise a plain softmax (scale 1, no bias)
    int64_t q_pos0;    // keys sit at positions 0..n_cols-1
    size_t copies;
    ScoreValues values;
    // How the positions are laid out (0.2): one line of consecutive keys; a patch grid (2-D ALiBi, Euclidean,
    // grid_width patches per line, one CLS token first, symmetric: every query row of the image); keys at given
    // positions (a StreamingLLM cache: 4 attention-sink tokens, then the most recent keys).
    enum class Layout { kLine, kGrid, kEvictedKeys } layout = Layout::kLine;
    int32_t grid_width = 0;
    size_t elements() const { return n_heads * n_rows * n_cols; }
    bool in_place() const { return values == ScoreValues::kInPlace; }
};

const std::vector<RopeWorkload> &rope_workloads()
{
    static const std::vector<RopeWorkload> workloads = {
        {"decode", 1, 32, 8, 4095, 1},
        {"prefill-512", 512, 32, 0, 0, 1},
        {"prefill-4096", 4096, 32, 0, 0, kDramRotation},
        {"decode-pos1e6", 1, 32, 8, kFarPosition + 4095, 1},
        {"prefill-512-pos1e6", 512, 32, 0, kFarPosition, 1},
        {"prefill-4096-pos1e6", 4096, 32, 0, kFarPosition, kDramRotation},
    };
    return workloads;
}

const std::vector<SoftmaxWorkload> &softmax_workloads()
{
    static const std::vector<SoftmaxWorkload> workloads = {
        {"decode-1024", 32, 1, 1024, true, 1023, 1, ScoreValues::kInPlace},
        {"decode-32768", 32, 1, 32768, true, 32767, 1, ScoreValues::kInPlace},
        {"prefill", 32, 512, 512, true, 0, 1, ScoreValues::kInPlace},
        {"plain", 1, 4096, 4096, false, 0, kDramRotation, ScoreValues::kInPlace},
        // value independence: decode-32768 out of place; bench/table.py prints each row's time over -random's
        {"decode-32768-random", 32, 1, 32768, true, 32767, 1, ScoreValues::kRandom},
        {"decode-32768-cutoff", 32, 1, 32768, true, 32767, 1, ScoreValues::kCutoff},
        {"decode-32768-denormal", 32, 1, 32768, true, 32767, 1, ScoreValues::kDenormal},
        {"decode-32768-nan", 32, 1, 32768, true, 32767, 1, ScoreValues::kNan},
    };
    return workloads;
}

// Position layouts beyond one line (registered with the softmax rows, both precisions, beside the stream pass).
const std::vector<SoftmaxWorkload> &layout_workloads()
{
    using Layout = SoftmaxWorkload::Layout;
    static const std::vector<SoftmaxWorkload> workloads = {
        // a ViT image of 32x32 patches and a CLS token, 16 heads: 1025 x 1025 scores per head
        {"vision-32x32", 16, 1025, 1025, true, 0, 1, ScoreValues::kInPlace, Layout::kGrid, 32},
        // decode over a StreamingLLM cache of 4 sinks + 4092 recent keys at position ~1e6, 32 heads
        {"decode-evicted-4096", 32, 1, 4096, true, 1000000, 1, ScoreValues::kInPlace, Layout::kEvictedKeys, 0},
    };
    return workloads;
}

bool is_far(const RopeWorkload &workload)
{
    return workload.start_pos >= kFarPosition;
}

// ---- implementations ----------------------------------------------------------------------------------------

// Who runs a benchmark: a libposenc variant (isa set, switched to before timing) or a baseline (isa empty).
struct Implementation {
    std::string name;    // the name's second component: "avx2", "dispatch", "textbook", ...
    std::string isa;     // posenc_set_isa() argument; empty for baselines
    bool supported;
};

// Rotates n_tokens tokens of q [t][n_q][128] (and k [t][n_k][128] if k) in place from start_pos; 0 on success.
using RopeFn = std::function<int(float *q, float *k, size_t n_tokens, int64_t start_pos)>;
// Softmax of one workload's scores, in place; 0 on success.
using SoftmaxFn = std::function<int(float *scores)>;

posenc_rope_plan *rope_plans[2];  // indexed by POSENC_ROPE_HALF / POSENC_ROPE_INTERLEAVED

const char *pairing_name(int pairing)
{
    return pairing == POSENC_ROPE_HALF ? "half" : "interleaved";
}

RopeFn posenc_rope(const RopeWorkload &workload, int pairing)
{
    const posenc_rope_plan *plan = rope_plans[pairing];
    const size_t n_q = workload.n_q_heads, n_k = workload.n_k_heads;
    return [plan, n_q, n_k](float *q, float *k, size_t n_tokens, int64_t start_pos) {
        if (k)
            return posenc_rope_apply_qk(plan, q, n_q, n_q * kHeadDim, kHeadDim, k, n_k, n_k * kHeadDim, kHeadDim,
                                        n_tokens, nullptr, start_pos, 0);
        return posenc_rope_apply(plan, q, n_tokens, n_q, n_q * kHeadDim, kHeadDim, nullptr, start_pos, 0);
    };
}

RopeFn textbook_rope(const RopeWorkload &workload, int pairing)
{
    const size_t n_q = workload.n_q_heads, n_k = workload.n_k_heads;
    return [n_q, n_k, pairing](float *q, float *k, size_t n_tokens, int64_t start_pos) {
        textbook_rope_qk(q, n_q, k, k ? n_k : 0, n_tokens, kHeadDim, start_pos, static_cast<float>(kRopeBase),
                         pairing == POSENC_ROPE_INTERLEAVED);
        return 0;
    };
}

constexpr float kAlibiMaxBias = 8.0f;  // posenc_softmax_desc's default, used by every ALiBi workload

float softmax_scale(const SoftmaxWorkload &workload)
{
    return workload.alibi ? 1.0f / std::sqrt(static_cast<float>(kHeadDim)) : 1.0f;
}

// The fixed source of an out-of-place workload (made once, kept for the run): [n_heads][n_rows][n_cols].
const float *value_scores(const SoftmaxWorkload &workload)
{
    static std::map<std::string, std::unique_ptr<FloatBuffer>> made;
    auto &buffer = made[workload.name];
    if (buffer)
        return buffer->data();
    buffer.reset(new FloatBuffer(workload.elements(), 11));   // uniform in [-1, 1)
    float *s = buffer->data();
    std::vector<float> slopes(workload.n_heads);
    posenc_alibi_slopes(workload.n_heads, kAlibiMaxBias, slopes.data());
    const float scale = softmax_scale(workload);
    for (size_t h = 0; h < workload.n_heads; h++) {
        for (size_t i = 0; i < workload.n_rows; i++) {
            float *row = s + (h * workload.n_rows + i) * workload.n_cols;
            const int64_t qpos = workload.q_pos0 + static_cast<int64_t>(i);
            for (size_t j = 0; j < workload.n_cols; j++) {
                // The causal ALiBi bias of column j; the denormal row's scores cancel it to hit exact logits.
                const double bias = workload.alibi ? static_cast<double>(slopes[h]) *
                                                         static_cast<double>(static_cast<int64_t>(j) - qpos)
                                                   : 0.0;
                switch (workload.values) {
                case ScoreValues::kCutoff:
                    row[j] = (row[j] - 1.0f) * 5000.0f;   // [-10000, 0)
                    break;
                case ScoreValues::kDenormal:
                    row[j] = static_cast<float>(((j % 2 ? -86.5 : 0.0) - bias) / static_cast<double>(scale));
                    break;
                default:
                    break;
                }
            }
            if (workload.values == ScoreValues::kNan)
                row[(h * 7919 + i * 104729) % workload.n_cols] = NAN;
        }
    }
    return buffer->data();
}

SoftmaxFn posenc_softmax_fn(const SoftmaxWorkload &workload, int32_t precision = POSENC_SOFTMAX_EXACT)
{
    posenc_softmax_desc desc;
    posenc_softmax_desc_init(&desc, sizeof desc);
    desc.precision = precision;
    if (workload.alibi) {
        desc.position = POSENC_POSITION_CAUSAL;
        desc.slopes_mode = POSENC_SLOPES_ALIBI;
        desc.max_bias = kAlibiMaxBias;
        desc.scale = softmax_scale(workload);
        desc.q_pos0 = workload.q_pos0;
        desc.k_pos0 = 0;
    }
    // Key positions live as long as the function (shared, never written).
    std::shared_ptr<std::vector<int64_t>> keys;
    if (workload.layout == SoftmaxWorkload::Layout::kGrid) {
        desc.position = POSENC_POSITION_GRID_EUCLIDEAN;
        desc.grid_width = workload.grid_width;
        desc.grid_prefix = 1;
    } else if (workload.layout == SoftmaxWorkload::Layout::kEvictedKeys) {
        keys = std::make_shared<std::vector<int64_t>>(workload.n_cols);
        for (size_t j = 0; j < workload.n_cols; j++)
            (*keys)[j] = j < 4 ? static_cast<int64_t>(j)
                               : workload.q_pos0 - static_cast<int64_t>(workload.n_cols) + static_cast<int64_t>(j) + 1;
        desc.k_positions = keys->data();
    }
    const SoftmaxWorkload w = workload;
    const float *source = workload.in_place() ? nullptr : value_scores(workload);
    return [desc, w, source, keys](float *scores) {   // scores: the buffer to write (and, in place, to read)
        const size_t head_stride = w.n_rows * w.n_cols;
        return posenc_softmax(&desc, source ? source : scores, head_stride, w.n_cols, scores, head_stride,
                              w.n_cols, w.n_heads, w.n_rows, w.n_cols);
    };
}

SoftmaxFn textbook_softmax_fn(const SoftmaxWorkload &workload)
{
    std::vector<float> slopes(workload.n_heads);
    textbook_alibi_slopes(workload.n_heads, slopes.data());
    const SoftmaxWorkload w = workload;
    return [slopes, w](float *scores) {
        textbook_softmax(scores, w.n_heads, w.n_rows, w.n_cols, softmax_scale(w), w.alibi ? slopes.data() : nullptr,
                         w.q_pos0);
        return 0;
    };
}

// ---- accuracy: RoPE against a float64 rotation ---------------------------------------------------------------

// Largest per-head relative error ||y - y64|| / ||y64|| over up to 64 tokens spread across the workload, where
// y64 rotates the same float input with angles p * base^(-2i/128) formed in double.
double rope_max_relative_error(const RopeWorkload &workload, int pairing, const RopeFn &rotate)
{
    const size_t n_heads = workload.n_q_heads + workload.n_k_heads, n_pairs = kHeadDim / 2;
    const size_t n_samples = std::min<size_t>(workload.n_tokens, 64);
    FloatBuffer input(n_heads * kHeadDim, 7);
    std::vector<float> output(n_heads * kHeadDim);
    std::vector<double> omega(n_pairs);
    for (size_t i = 0; i < n_pairs; i++)
        omega[i] = std::pow(kRopeBase, -2.0 * static_cast<double>(i) / static_cast<double>(kHeadDim));

    double worst = 0.0;
    for (size_t sample = 0; sample < n_samples; sample++) {
        const int64_t position = workload.start_pos + static_cast<int64_t>(sample * workload.n_tokens / n_samples);
        std::copy(input.data(), input.data() + output.size(), output.begin());
        float *k = workload.n_k_heads ? output.data() + workload.n_q_heads * kHeadDim : nullptr;
        if (rotate(output.data(), k, 1, position) != 0)
            return NAN;
        for (size_t h = 0; h < n_heads; h++) {
            const float *x = input.data() + h * kHeadDim, *y = output.data() + h * kHeadDim;
            double error = 0.0, norm = 0.0;
            for (size_t i = 0; i < n_pairs; i++) {
                const size_t a = pairing == POSENC_ROPE_HALF ? i : 2 * i;
                const size_t b = pairing == POSENC_ROPE_HALF ? i + n_pairs : 2 * i + 1;
                const double angle = static_cast<double>(position) * omega[i];
                const double c = std::cos(angle), s = std::sin(angle);
                const double ya = x[a] * c - x[b] * s, yb = x[a] * s + x[b] * c;
                error += (y[a] - ya) * (y[a] - ya) + (y[b] - yb) * (y[b] - yb);
                norm += ya * ya + yb * yb;
            }
            worst = std::max(worst, std::sqrt(error / norm));
        }
    }
    return worst;
}

// ---- benchmark bodies ---------------------------------------------------------------------------------------

// Switches libposenc to the implementation's variant; false (and the benchmark skipped) if it cannot run.
bool select_implementation(benchmark::State &state, const Implementation &implementation)
{
    if (!implementation.supported) {
        state.SkipWithError(("this CPU cannot run the " + implementation.isa + " variant").c_str());
        return false;
    }
    if (!implementation.isa.empty() && posenc_set_isa(implementation.isa.c_str()) != POSENC_OK) {
        state.SkipWithError(("posenc_set_isa(\"" + implementation.isa + "\") failed").c_str());
        return false;
    }
    if (implementation.name == "dispatch")
        state.SetLabel(implementation.isa);
    return true;
}

// bytes_per_element: bytes read plus bytes written per element (f32 in place: 8).
void report_rates(benchmark::State &state, size_t elements, size_t bytes_per_element = 2 * sizeof(float))
{
    const auto iterations = static_cast<int64_t>(state.iterations());
    state.SetItemsProcessed(iterations * static_cast<int64_t>(elements));
    state.SetBytesProcessed(iterations * static_cast<int64_t>(elements * bytes_per_element));
}

float stream_factor()
{
    static volatile float one = 1.0f;  // volatile: the compiler cannot prove the stream pass is a no-op
    return one;
}

// The stream pass over `floats` floats (4 * floats bytes read and written), reported per `elements` elements of
// the workload it is the roofline of (0: the floats themselves).
void bench_stream(benchmark::State &state, size_t floats, size_t copies, size_t elements = 0)
{
    const size_t bytes_per_element = elements ? floats * 2 * sizeof(float) / elements : 2 * sizeof(float);
    if (!elements)
        elements = floats;
    const std::vector<float *> buffers = buffer_rotation(floats, copies);
    const float factor = stream_factor();
    size_t next = 0;
    for (auto _ : state) {
        float *data = buffers[next];
        next = next + 1 == buffers.size() ? 0 : next + 1;
        stream_scale_in_place(data, floats, factor);
        benchmark::DoNotOptimize(data);
        benchmark::ClobberMemory();
    }
    report_rates(state, elements, bytes_per_element);
}

// The timed loop shared by the library's benchmarks: each iteration runs `call` on the next buffer of the
// rotation; a non-zero status skips the benchmark with its sentence. Returns false when skipped.
template <typename Call>
bool timed_rotation(benchmark::State &state, const std::vector<float *> &buffers, const Call &call)
{
    size_t next = 0;
    int status = 0;
    for (auto _ : state) {
        float *data = buffers[next];
        next = next + 1 == buffers.size() ? 0 : next + 1;
        const int result = call(data);
        if (result != 0)
            status = result;
        benchmark::ClobberMemory();
    }
    if (status != 0) {
        state.SkipWithError(posenc_strerror(status));
        return false;
    }
    return true;
}

void bench_rope(benchmark::State &state, const Implementation &implementation, const RopeWorkload &workload,
                int pairing, const RopeFn &rotate)
{
    if (!select_implementation(state, implementation))
        return;
    static std::map<std::string, double> errors;  // measured once per benchmark, outside the timed loop
    const std::string key = implementation.name + "/" + workload.name + "/" + pairing_name(pairing);
    if (!errors.count(key))
        errors[key] = rope_max_relative_error(workload, pairing, rotate);
    const std::vector<float *> buffers = buffer_rotation(workload.elements(), workload.copies);
    const bool ran = timed_rotation(state, buffers, [&](float *q) {
        return rotate(q, workload.n_k_heads ? q + workload.q_elements() : nullptr, workload.n_tokens,
                      workload.start_pos);
    });
    if (!ran)
        return;
    report_rates(state, workload.elements());
    state.counters["rel_err"] = errors[key];
}

void bench_softmax(benchmark::State &state, const Implementation &implementation, const SoftmaxWorkload &workload,
                   const SoftmaxFn &softmax)
{
    if (!select_implementation(state, implementation))
        return;
    const std::vector<float *> buffers = buffer_rotation(workload.elements(), workload.copies);
    if (!timed_rotation(state, buffers, [&](float *scores) { return softmax(scores); }))
        return;
    report_rates(state, workload.elements());
}

#ifdef POSENC_BENCH_ONEDNN
void bench_onednn_softmax(benchmark::State &state, const SoftmaxWorkload &workload)
{
    static std::map<std::string, std::unique_ptr<OnednnSoftmax>> primitives;  // created once per workload
    auto &primitive = primitives[workload.name];
    try {
        if (!primitive)
            primitive.reset(new OnednnSoftmax(workload.n_heads * workload.n_rows, workload.n_cols));
    } catch (const std::exception &) {
        state.SkipWithError("oneDNN could not create its softmax primitive");
        return;
    }
    state.SetLabel(primitive->implementation() + (workload.alibi ? ", no bias: oneDNN has none" : ""));
    const Implementation baseline{"onednn", "", true};
    bench_softmax(state, baseline, workload, [&primitive](float *scores) { return primitive->run(scores); });
}
#endif

// ---- registration -------------------------------------------------------------------------------------------

void register_rope(const std::vector<Implementation> &variants, const Implementation &dispatch)
{
    const Implementation textbook{"textbook", "", true};
    for (const RopeWorkload &workload : rope_workloads()) {
        if (!is_far(workload)) {
            const size_t elements = workload.elements(), copies = workload.copies;
            benchmark::RegisterBenchmark(("rope_f32/stream/" + workload.name).c_str(),
                                         [elements, copies](benchmark::State &state) {
                                             bench_stream(state, elements, copies);
                                         })
                ->Unit(benchmark::kMicrosecond);
        }
        for (int pairing : {POSENC_ROPE_HALF, POSENC_ROPE_INTERLEAVED}) {
            // Far positions measure accuracy: textbook and the dispatched variant suffice (variants agree bitwise).
            std::vector<Implementation> runners{textbook};
            if (!is_far(workload))
                runners.insert(runners.end(), variants.begin(), variants.end());
            runners.push_back(dispatch);
            for (const Implementation &runner : runners) {
                const RopeFn rotate =
                    runner.isa.empty() ? textbook_rope(workload, pairing) : posenc_rope(workload, pairing);
                const std::string name =
                    "rope_f32/" + runner.name + "/" + workload.name + "/" + pairing_name(pairing);
                benchmark::RegisterBenchmark(name.c_str(),
                                             [runner, workload, pairing, rotate](benchmark::State &state) {
                                                 bench_rope(state, runner, workload, pairing, rotate);
                                             })
                    ->Unit(benchmark::kMicrosecond);
            }
        }
    }
}

// One workload on every variant and the dispatcher, in both precisions (include/posenc.h, "Precision"): EXACT as
// softmax_f32/<variant>/<workload>, FAST with the suffix /fast (bench/table.py prints it as its own group, against
// the same baselines).
void register_softmax_precisions(const std::vector<Implementation> &variants, const Implementation &dispatch,
                                 const SoftmaxWorkload &workload)
{
    std::vector<Implementation> runners(variants);
    runners.push_back(dispatch);
    for (int32_t precision : {POSENC_SOFTMAX_EXACT, POSENC_SOFTMAX_FAST})
        for (const Implementation &runner : runners) {
            const SoftmaxFn softmax = posenc_softmax_fn(workload, precision);
            const std::string suffix = precision == POSENC_SOFTMAX_FAST ? "/fast" : "";
            benchmark::RegisterBenchmark(("softmax_f32/" + runner.name + "/" + workload.name + suffix).c_str(),
                                         [runner, workload, softmax](benchmark::State &state) {
                                             bench_softmax(state, runner, workload, softmax);
                                         })
                ->Unit(benchmark::kMicrosecond);
        }
}

void register_softmax(const std::vector<Implementation> &variants, const Implementation &dispatch)
{
    const Implementation textbook{"textbook", "", true};
    for (const SoftmaxWorkload &workload : softmax_workloads()) {
        // Baselines beside the in-place workloads; the value-independence rows compare libposenc with itself.
        if (workload.in_place()) {
            const size_t elements = workload.elements(), copies = workload.copies;
            benchmark::RegisterBenchmark(("softmax_f32/stream/" + workload.name).c_str(),
                                         [elements, copies](benchmark::State &state) {
                                             bench_stream(state, elements, copies);
                                         })
                ->Unit(benchmark::kMicrosecond);
            benchmark::RegisterBenchmark(("softmax_f32/textbook/" + workload.name).c_str(),
                                         [textbook, workload](benchmark::State &state) {
                                             bench_softmax(state, textbook, workload, textbook_softmax_fn(workload));
                                         })
                ->Unit(benchmark::kMicrosecond);
#ifdef POSENC_BENCH_ONEDNN
            if (workload.name != "prefill")  // oneDNN peers: softmax-plain and softmax-decode
                benchmark::RegisterBenchmark(("softmax_f32/onednn/" + workload.name).c_str(),
                                             [workload](benchmark::State &state) {
                                                 bench_onednn_softmax(state, workload);
                                             })
                    ->Unit(benchmark::kMicrosecond);
#endif
        }
        register_softmax_precisions(variants, dispatch, workload);
    }
}

void register_softmax_layouts(const std::vector<Implementation> &variants, const Implementation &dispatch)
{
    for (const SoftmaxWorkload &workload : layout_workloads()) {
        const size_t elements = workload.elements(), copies = workload.copies;
        benchmark::RegisterBenchmark(("softmax_f32/stream/" + workload.name).c_str(),
                                     [elements, copies](benchmark::State &state) {
                                         bench_stream(state, elements, copies);
                                     })
            ->Unit(benchmark::kMicrosecond);
        register_softmax_precisions(variants, dispatch, workload);
    }
}

// ---- the exp limit: the FAST softmax's exp alone over an L1-resident buffer, per variant ---------------------

void register_exp_limit(const std::vector<Implementation> &variants)
{
    using ExpFn = void (*)(const float *, float *, size_t);
    std::map<std::string, ExpFn> kernels;
#ifdef POSENC_BENCH_EXP_AVX512
    kernels["avx512"] = bench_exp_limit_avx512;
#endif
#ifdef POSENC_BENCH_EXP_AVX2
    kernels["avx2"] = bench_exp_limit_avx2;
#endif
#ifdef POSENC_BENCH_EXP_NEON
    kernels["neon"] = bench_exp_limit_neon;
#endif
    constexpr size_t kFloats = 2048;   // 8 KiB in, 8 KiB out: L1 on every core seen
    for (const Implementation &variant : variants) {
        if (!kernels.count(variant.isa))
            continue;
        const ExpFn exp_fn = kernels[variant.isa];
        benchmark::RegisterBenchmark(("exp_f32/" + variant.name + "/l1-2048").c_str(),
                                     [variant, exp_fn](benchmark::State &state) {
                                         if (!variant.supported) {
                                             state.SkipWithError(("this CPU cannot run " + variant.isa).c_str());
                                             return;
                                         }
                                         std::vector<float> x(kFloats), y(kFloats);
                                         for (size_t i = 0; i < kFloats; i++)   // softmax arguments: <= 0
                                             x[i] = -20.0f * static_cast<float>(i % 97) / 97.0f;
                                         for (auto _ : state) {
                                             exp_fn(x.data(), y.data(), kFloats);
                                             benchmark::DoNotOptimize(y.data());
                                             benchmark::ClobberMemory();
                                         }
                                         report_rates(state, kFloats);
                                     })
            ->Unit(benchmark::kNanosecond);
    }
}

// ---- reduced precision (f16, bf16) and the caller's thread pool ------------------------------------------

// Values in [-1, 1) of a 16-bit type, as a tensor of that type holds them.
uint16_t half_of(float value, int dtype)
{
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    if (dtype == POSENC_BF16)
        return static_cast<uint16_t>(bits >> 16);
    const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
    const int exponent = static_cast<int>((bits >> 23) & 0xff) - 127 + 15;
    if (exponent <= 0)
        return sign;  // below f16's normal range: zero is close enough for benchmark data
    return static_cast<uint16_t>(sign | (exponent << 10) | ((bits >> 13) & 0x3ffu));
}

// `copies` buffers of `count` 16-bit elements of `dtype`, kept for the whole run (as buffer_rotation).
std::vector<uint16_t *> half_rotation(size_t count, size_t copies, int dtype)
{
    static std::map<std::tuple<size_t, size_t, int>, std::vector<std::unique_ptr<FloatBuffer>>> made;
    auto &buffers = made[{count, copies, dtype}];
    for (size_t i = buffers.size(); i < copies; i++) {
        buffers.emplace_back(new FloatBuffer((count + 1) / 2, count + i));
        const float *values = buffers.back()->data();
        uint16_t *halves = reinterpret_cast<uint16_t *>(buffers.back()->data());
        for (size_t j = 0; j < count; j++)  // halves[j] overwrites only floats already read (j/2 <= j)
            halves[j] = half_of(values[j / 2] * (j % 2 ? -0.5f : 1.0f), dtype);
    }
    std::vector<uint16_t *> pointers;
    for (auto &buffer : buffers)
        pointers.push_back(reinterpret_cast<uint16_t *>(buffer->data()));
    return pointers;
}

const char *dtype_name(int dtype)
{
    return dtype == POSENC_F32 ? "f32" : dtype == POSENC_F16 ? "f16" : "bf16";
}

size_t dtype_bytes(int dtype)
{
    return dtype == POSENC_F32 ? 4 : 2;
}

posenc_tensor tensor_view(void *data, int dtype, size_t n_heads)
{
    return posenc_tensor{data, dtype, 0, n_heads * kHeadDim, kHeadDim};
}

// RoPE of a workload with q (and k) stored as `dtype`, in place, through the 0.2 tensor calls.
void bench_rope_typed(benchmark::State &state, const Implementation &implementation, const RopeWorkload &workload,
                      int pairing, int dtype)
{
    if (!select_implementation(state, implementation))
        return;
    const std::vector<uint16_t *> buffers = half_rotation(workload.elements(), workload.copies, dtype);
    posenc_rope_args args;
    posenc_rope_args_init(&args, sizeof args);
    args.start_pos = workload.start_pos;
    const posenc_rope_plan *plan = rope_plans[pairing];
    size_t next = 0;
    int status = 0;
    for (auto _ : state) {
        uint16_t *q = buffers[next];
        next = next + 1 == buffers.size() ? 0 : next + 1;
        const posenc_tensor qv = tensor_view(q, dtype, workload.n_q_heads);
        int result;
        if (workload.n_k_heads) {
            const posenc_tensor kv = tensor_view(q + workload.q_elements(), dtype, workload.n_k_heads);
            result = posenc_rope_rotate_qk(plan, &args, &qv, &kv, &qv, &kv, workload.n_tokens, workload.n_q_heads,
                                           workload.n_k_heads);
        } else {
            result = posenc_rope_rotate(plan, &args, &qv, &qv, workload.n_tokens, workload.n_q_heads);
        }
        status = result ? result : status;
        benchmark::ClobberMemory();
    }
    if (status != 0) {
        state.SkipWithError(posenc_strerror(status));
        return;
    }
    report_rates(state, workload.elements(), 2 * dtype_bytes(dtype));
}

// RoPE of q from float32 into a 16-bit destination (the KV-cache write), out of place.
void bench_rope_into(benchmark::State &state, const Implementation &implementation, const RopeWorkload &workload,
                     int pairing, int dst_dtype)
{
    if (!select_implementation(state, implementation))
        return;
    const std::vector<float *> sources = buffer_rotation(workload.q_elements(), workload.copies);
    const std::vector<uint16_t *> destinations = half_rotation(workload.q_elements(), workload.copies, dst_dtype);
    posenc_rope_args args;
    posenc_rope_args_init(&args, sizeof args);
    args.start_pos = workload.start_pos;
    size_t next = 0;
    int status = 0;
    for (auto _ : state) {
        const posenc_tensor src = tensor_view(sources[next], POSENC_F32, workload.n_q_heads);
        const posenc_tensor dst = tensor_view(destinations[next], dst_dtype, workload.n_q_heads);
        next = next + 1 == sources.size() ? 0 : next + 1;
        const int result = posenc_rope_rotate(rope_plans[pairing], &args, &src, &dst, workload.n_tokens,
                                              workload.n_q_heads);
        status = result ? result : status;
        benchmark::ClobberMemory();
    }
    if (status != 0) {
        state.SkipWithError(posenc_strerror(status));
        return;
    }
    report_rates(state, workload.q_elements(), sizeof(float) + dtype_bytes(dst_dtype));
}

void register_rope_reduced(const std::vector<Implementation> &variants, const Implementation &dispatch)
{
    std::vector<Implementation> runners(variants);
    runners.push_back(dispatch);
    for (int dtype : {POSENC_BF16, POSENC_F16}) {
        const std::string kernel = std::string("rope_") + dtype_name(dtype);
        for (const RopeWorkload &workload : rope_workloads()) {
            if (is_far(workload))
                continue;
            const size_t elements = workload.elements(), copies = workload.copies;
            benchmark::RegisterBenchmark((kernel + "/stream/" + workload.name).c_str(),
                                         [elements, copies](benchmark::State &state) {
                                             bench_stream(state, elements / 2, copies, elements);
                                         })
                ->Unit(benchmark::kMicrosecond);
            for (int pairing : {POSENC_ROPE_HALF, POSENC_ROPE_INTERLEAVED})
                for (const Implementation &runner : runners)
                    benchmark::RegisterBenchmark(
                        (kernel + "/" + runner.name + "/" + workload.name + "/" + pairing_name(pairing)).c_str(),
                        [runner, workload, pairing, dtype](benchmark::State &state) {
                            bench_rope_typed(state, runner, workload, pairing, dtype);
                        })
                        ->Unit(benchmark::kMicrosecond);
        }
    }
    // float32 q rotated straight into a bf16 cache: 6 bytes per element, the stream over the same bytes.
    for (const RopeWorkload &workload : rope_workloads()) {
        if (is_far(workload) || workload.n_k_heads)
            continue;
        const size_t elements = workload.q_elements(), copies = workload.copies;
        benchmark::RegisterBenchmark(("rope_f32-bf16/stream/" + workload.name).c_str(),
                                     [elements, copies](benchmark::State &state) {
                                         bench_stream(state, elements * 3 / 4, copies, elements);
                                     })
            ->Unit(benchmark::kMicrosecond);
        for (const Implementation &runner : runners)
            benchmark::RegisterBenchmark(("rope_f32-bf16/" + runner.name + "/" + workload.name + "/half").c_str(),
                                         [runner, workload](benchmark::State &state) {
                                             bench_rope_into(state, runner, workload, POSENC_ROPE_HALF,
                                                             POSENC_BF16);
                                         })
                ->Unit(benchmark::kMicrosecond);
    }
}

// The softmax of a workload with scores and outputs stored as `dtype`, in place, through posenc_softmax_forward.
void bench_softmax_typed(benchmark::State &state, const Implementation &implementation, const SoftmaxWorkload &workload,
                         int dtype)
{
    if (!select_implementation(state, implementation))
        return;
    const std::vector<uint16_t *> buffers = half_rotation(workload.elements(), workload.copies, dtype);
    posenc_softmax_desc desc;
    posenc_softmax_desc_init(&desc, sizeof desc);
    if (workload.alibi) {
        desc.position = POSENC_POSITION_CAUSAL;
        desc.slopes_mode = POSENC_SLOPES_ALIBI;
        desc.max_bias = kAlibiMaxBias;
        desc.scale = softmax_scale(workload);
        desc.q_pos0 = workload.q_pos0;
    }
    size_t next = 0;
    int status = 0;
    for (auto _ : state) {
        const posenc_tensor view{buffers[next], dtype, 0, workload.n_rows * workload.n_cols, workload.n_cols};
        next = next + 1 == buffers.size() ? 0 : next + 1;
        const int result = posenc_softmax_forward(&desc, &view, &view, workload.n_heads, workload.n_rows,
                                                  workload.n_cols);
        status = result ? result : status;
        benchmark::ClobberMemory();
    }
    if (status != 0) {
        state.SkipWithError(posenc_strerror(status));
        return;
    }
    report_rates(state, workload.elements(), 2 * dtype_bytes(dtype));
}

// softmax_bf16 / softmax_f16: 16-bit scores in, 16-bit probabilities out, against the stream over the same bytes
// (bench/table.py prints each row's speed per score against the float32 row of the same variant).
void register_softmax_reduced(const std::vector<Implementation> &variants, const Implementation &dispatch)
{
    std::vector<Implementation> runners(variants);
    runners.push_back(dispatch);
    for (int dtype : {POSENC_BF16, POSENC_F16}) {
        const std::string kernel = std::string("softmax_") + dtype_name(dtype);
        for (const SoftmaxWorkload &workload : softmax_workloads()) {
            if (workload.name != "decode-1024" && workload.name != "decode-32768" && workload.name != "prefill")
                continue;
            const size_t elements = workload.elements(), copies = workload.copies;
            benchmark::RegisterBenchmark((kernel + "/stream/" + workload.name).c_str(),
                                         [elements, copies](benchmark::State &state) {
                                             bench_stream(state, elements / 2, copies, elements);
                                         })
                ->Unit(benchmark::kMicrosecond);
            for (const Implementation &runner : runners)
                benchmark::RegisterBenchmark((kernel + "/" + runner.name + "/" + workload.name).c_str(),
                                             [runner, workload, dtype](benchmark::State &state) {
                                                 bench_softmax_typed(state, runner, workload, dtype);
                                             })
                    ->Unit(benchmark::kMicrosecond);
        }
    }
}

// The caller's pool: `threads` threads (1: no pool), started once for the whole run.
const posenc_parallel *caller_pool(size_t threads)
{
    static std::map<size_t, posenc_parallel> pools;
    if (threads <= 1)
        return nullptr;
    auto found = pools.find(threads);
    if (found == pools.end()) {
        void *pool = bench_pool_start(threads);
        if (!pool)
            return nullptr;
        found = pools.emplace(threads, posenc_parallel{bench_pool_parallel_for, pool, threads}).first;
    }
    return &found->second;
}

// The stream pass split over the pool: the memory system's roofline at that many threads.
struct StreamSlices {
    float *data;
    size_t floats, n_tasks;
    float factor;
};

void stream_slice(void *arg, size_t task)
{
    const StreamSlices *slices = static_cast<const StreamSlices *>(arg);
    const size_t begin = slices->floats * task / slices->n_tasks, end = slices->floats * (task + 1) / slices->n_tasks;
    stream_scale_in_place(slices->data + begin, end - begin, slices->factor);
}

void bench_stream_threads(benchmark::State &state, size_t elements, size_t copies, size_t threads)
{
    const posenc_parallel *parallel = caller_pool(threads);
    if (threads > 1 && !parallel) {
        state.SkipWithError("cannot start the thread pool");
        return;
    }
    const std::vector<float *> buffers = buffer_rotation(elements, copies);
    size_t next = 0;
    for (auto _ : state) {
        StreamSlices slices{buffers[next], elements, threads, stream_factor()};
        next = next + 1 == buffers.size() ? 0 : next + 1;
        if (parallel)
            parallel->parallel_for(parallel->pool, threads, stream_slice, &slices);
        else
            stream_slice(&slices, 0);
        benchmark::ClobberMemory();
    }
    report_rates(state, elements);
}

void bench_rope_threads(benchmark::State &state, const RopeWorkload &workload, size_t threads)
{
    const posenc_parallel *parallel = caller_pool(threads);
    if (threads > 1 && !parallel) {
        state.SkipWithError("cannot start the thread pool");
        return;
    }
    posenc_rope_args args;
    posenc_rope_args_init(&args, sizeof args);
    args.start_pos = workload.start_pos;
    args.parallel = parallel;
    const posenc_rope_plan *plan = rope_plans[POSENC_ROPE_HALF];
    const std::vector<float *> buffers = buffer_rotation(workload.elements(), workload.copies);
    if (!timed_rotation(state, buffers, [&](float *q) {
            const posenc_tensor qv = tensor_view(q, POSENC_F32, workload.n_q_heads);
            return posenc_rope_rotate(plan, &args, &qv, &qv, workload.n_tokens, workload.n_q_heads);
        }))
        return;
    report_rates(state, workload.elements());
    state.counters["threads"] = static_cast<double>(threads);
}

void bench_softmax_threads(benchmark::State &state, const SoftmaxWorkload &workload, size_t threads)
{
    const posenc_parallel *parallel = caller_pool(threads);
    if (threads > 1 && !parallel) {
        state.SkipWithError("cannot start the thread pool");
        return;
    }
    posenc_softmax_desc desc;
    posenc_softmax_desc_init(&desc, sizeof desc);
    desc.position = POSENC_POSITION_CAUSAL;
    desc.slopes_mode = POSENC_SLOPES_ALIBI;
    desc.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
    desc.q_pos0 = workload.q_pos0;
    desc.parallel = parallel;
    const std::vector<float *> buffers = buffer_rotation(workload.elements(), workload.copies);
    if (!timed_rotation(state, buffers, [&](float *scores) {
            const posenc_tensor view{scores, POSENC_F32, 0, workload.n_rows * workload.n_cols, workload.n_cols};
            return posenc_softmax_forward(&desc, &view, &view, workload.n_heads, workload.n_rows, workload.n_cols);
        }))
        return;
    report_rates(state, workload.elements());
    state.counters["threads"] = static_cast<double>(threads);
}

// One workload's wall-clock rows (UseRealTime: CPU time of the timing thread would hide the workers): the stream
// on 2 threads, then `run` at 1 and 2 threads, named <kernel>/threads-N/<workload><suffix>.
template <typename Run>
void register_thread_rows(const std::string &kernel, const std::string &workload, const std::string &suffix,
                          size_t elements, size_t copies, Run run)
{
    benchmark::RegisterBenchmark((kernel + "/stream/" + workload).c_str(),
                                 [elements, copies](benchmark::State &state) {
                                     bench_stream_threads(state, elements, copies, 2);
                                 })
        ->Unit(benchmark::kMicrosecond)
        ->UseRealTime();
    for (size_t threads : {1, 2})
        benchmark::RegisterBenchmark(
            (kernel + "/threads-" + std::to_string(threads) + "/" + workload + suffix).c_str(),
            [run, threads](benchmark::State &state) { run(state, threads); })
            ->Unit(benchmark::kMicrosecond)
            ->UseRealTime();
}

void register_threads()
{
    for (const RopeWorkload &workload : rope_workloads())
        if (!is_far(workload) && workload.n_tokens >= 512)
            register_thread_rows("rope_f32_mt", workload.name, "/half", workload.elements(), workload.copies,
                                 [workload](benchmark::State &state, size_t threads) {
                                     bench_rope_threads(state, workload, threads);
                                 });
    for (const SoftmaxWorkload &workload : softmax_workloads())
        if (workload.name == "prefill" || workload.name == "decode-32768")
            register_thread_rows("softmax_f32_mt", workload.name, "", workload.elements(), workload.copies,
                                 [workload](benchmark::State &state, size_t threads) {
                                     bench_softmax_threads(state, workload, threads);
                                 });
}

// ---- softmax backward, split-K statistics and merges -------------------------------------------------------
// softmax_f32_backward/<impl>/<workload>: dx from y and dy, out of place (12 bytes per score: y, dy read, dx
//   written); its roofline is a stream pass over the same 12 bytes per score.
// softmax_f32_stats/<impl>/decode-32768: posenc_softmax_forward with desc->stats, in place (8 bytes per score).
// softmax_f32_merge/<impl>/decode-32768-8blocks: posenc_softmax_merge_concat of decode-32768 split into 8 blocks
//   of 4096 keys (each block's forward with its statistics, made once), in place (8 bytes per score).
// softmax_f32_merge/<impl>/flash-decode-8blocks: posenc_softmax_merge of 8 partial attention outputs of 32 heads x
//   128 into one (an item is one element of a block: 4 bytes read, plus 4 written per 8 items).

posenc_softmax_desc split_desc(const SoftmaxWorkload &workload)
{
    posenc_softmax_desc desc;
    posenc_softmax_desc_init(&desc, sizeof desc);
    if (workload.alibi) {
        desc.position = POSENC_POSITION_CAUSAL;
        desc.slopes_mode = POSENC_SLOPES_ALIBI;
        desc.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
        desc.q_pos0 = workload.q_pos0;
    }
    return desc;
}

posenc_tensor workload_view(float *data, const SoftmaxWorkload &workload)
{
    return posenc_tensor{data, POSENC_F32, 0, workload.n_rows * workload.n_cols, workload.n_cols};
}

// y (the workload's softmax of random scores), dy and dx of one workload, made once.
struct BackwardBuffers {
    std::unique_ptr<FloatBuffer> y, dy, dx;
};

const BackwardBuffers &backward_buffers(const SoftmaxWorkload &workload)
{
    static std::map<std::string, BackwardBuffers> made;
    BackwardBuffers &b = made[workload.name];
    if (!b.y) {
        b.y.reset(new FloatBuffer(workload.elements(), 11));
        b.dy.reset(new FloatBuffer(workload.elements(), 12));
        b.dx.reset(new FloatBuffer(workload.elements(), 13));
        const posenc_softmax_desc desc = split_desc(workload);
        const posenc_tensor yv = workload_view(b.y->data(), workload);
        posenc_softmax_forward(&desc, &yv, &yv, workload.n_heads, workload.n_rows, workload.n_cols);
    }
    return b;
}

void bench_softmax_backward(benchmark::State &state, const Implementation &implementation,
                            const SoftmaxWorkload &workload)
{
    if (!select_implementation(state, implementation))
        return;
    const BackwardBuffers &b = backward_buffers(workload);
    const posenc_softmax_desc desc = split_desc(workload);
    const posenc_tensor yv = workload_view(b.y->data(), workload), dyv = workload_view(b.dy->data(), workload);
    const posenc_tensor dxv = workload_view(b.dx->data(), workload);
    int status = 0;
    for (auto _ : state) {
        const int result = posenc_softmax_backward(&desc, &yv, &dyv, &dxv, workload.n_heads, workload.n_rows,
                                                   workload.n_cols);
        status = result ? result : status;
        benchmark::ClobberMemory();
    }
    if (status != 0) {
        state.SkipWithError(posenc_strerror(status));
        return;
    }
    report_rates(state, workload.elements(), 3 * sizeof(float));
}

void bench_softmax_stats(benchmark::State &state, const Implementation &implementation,
                         const SoftmaxWorkload &workload)
{
    if (!select_implementation(state, implementation))
        return;
    std::vector<float> stats(workload.n_heads * workload.n_rows * 2);
    posenc_softmax_desc desc = split_desc(workload);
    desc.stats = stats.data();
    const std::vector<float *> buffers = buffer_rotation(workload.elements(), workload.copies);
    if (!timed_rotation(state, buffers, [&](float *scores) {
            const posenc_tensor v = workload_view(scores, workload);
            return posenc_softmax_forward(&desc, &v, &v, workload.n_heads, workload.n_rows, workload.n_cols);
        }))
        return;
    report_rates(state, workload.elements());
}

// decode-32768 split into n_blocks equal blocks: the blocks' probabilities side by side and their statistics.
struct ConcatBuffers {
    std::unique_ptr<FloatBuffer> probs;
    std::vector<float> stats;
    std::vector<size_t> widths;
};

const ConcatBuffers &concat_buffers(const SoftmaxWorkload &workload, size_t n_blocks)
{
    static std::map<std::string, ConcatBuffers> made;
    ConcatBuffers &c = made[workload.name];
    if (!c.probs) {
        c.probs.reset(new FloatBuffer(workload.elements(), 21));
        const size_t per_block = workload.n_heads * workload.n_rows * 2, width = workload.n_cols / n_blocks;
        c.stats.assign(n_blocks * per_block, 0.0f);
        c.widths.assign(n_blocks, width);
        for (size_t b = 0; b < n_blocks; b++) {
            posenc_softmax_desc desc = split_desc(workload);
            desc.k_pos0 = static_cast<int64_t>(b * width);
            desc.stats = c.stats.data() + b * per_block;
            const posenc_tensor v = workload_view(c.probs->data() + b * width, workload);
            posenc_softmax_forward(&desc, &v, &v, workload.n_heads, workload.n_rows, width);
        }
    }
    return c;
}

void bench_softmax_merge_concat(benchmark::State &state, const Implementation &implementation,
                                const SoftmaxWorkload &workload, size_t n_blocks)
{
    if (!select_implementation(state, implementation))
        return;
    const ConcatBuffers &c = concat_buffers(workload, n_blocks);
    std::vector<posenc_tensor> blocks;
    for (size_t b = 0; b < n_blocks; b++)
        blocks.push_back(workload_view(c.probs->data() + b * c.widths[b], workload));
    const posenc_tensor dst = workload_view(c.probs->data(), workload);
    posenc_softmax_desc desc;
    posenc_softmax_desc_init(&desc, sizeof desc);
    int status = 0;
    for (auto _ : state) {
        const int result = posenc_softmax_merge_concat(&desc, c.stats.data(), c.widths.data(), blocks.data(), &dst,
                                                       n_blocks, workload.n_heads, workload.n_rows,
                                                       workload.n_cols);
        status = result ? result : status;
        benchmark::ClobberMemory();
    }
    if (status != 0) {
        state.SkipWithError(posenc_strerror(status));
        return;
    }
    report_rates(state, workload.elements());
}

void bench_softmax_merge_sum(benchmark::State &state, const Implementation &implementation, size_t n_blocks,
                             size_t n_heads)
{
    if (!select_implementation(state, implementation))
        return;
    static FloatBuffer outs(n_blocks * n_heads * kHeadDim, 31), dst(n_heads * kHeadDim, 32);
    static std::vector<float> stats;
    if (stats.empty())
        for (size_t k = 0; k < n_blocks * n_heads; k++) {
            stats.push_back(static_cast<float>(k % 5));           // M_b: blocks within a few units of each other
            stats.push_back(static_cast<float>(1 + k % 97));      // S_b
        }
    std::vector<posenc_tensor> blocks;
    for (size_t b = 0; b < n_blocks; b++)
        blocks.push_back(posenc_tensor{outs.data() + b * n_heads * kHeadDim, POSENC_F32, 0, kHeadDim, kHeadDim});
    const posenc_tensor dv{dst.data(), POSENC_F32, 0, kHeadDim, kHeadDim};
    posenc_softmax_desc desc;
    posenc_softmax_desc_init(&desc, sizeof desc);
    int status = 0;
    for (auto _ : state) {
        const int result = posenc_softmax_merge(&desc, stats.data(), blocks.data(), &dv, n_blocks, n_heads, 1,
                                                kHeadDim);
        status = result ? result : status;
        benchmark::ClobberMemory();
    }
    if (status != 0) {
        state.SkipWithError(posenc_strerror(status));
        return;
    }
    const auto items = static_cast<int64_t>(state.iterations() * n_blocks * n_heads * kHeadDim);
    state.SetItemsProcessed(items);
    state.SetBytesProcessed(items * 4 + items / static_cast<int64_t>(n_blocks) * 4);
}

void register_softmax_split(const std::vector<Implementation> &variants, const Implementation &dispatch)
{
    std::vector<Implementation> runners(variants);
    runners.push_back(dispatch);
    for (const SoftmaxWorkload &workload : softmax_workloads()) {
        if (workload.name != "decode-32768" && workload.name != "prefill")
            continue;
        const size_t elements = workload.elements(), copies = workload.copies;
        benchmark::RegisterBenchmark(("softmax_f32_backward/stream/" + workload.name).c_str(),
                                     [elements, copies](benchmark::State &state) {
                                         bench_stream(state, elements * 3 / 2, copies, elements);
                                     })
            ->Unit(benchmark::kMicrosecond);
        for (const Implementation &runner : runners)
            benchmark::RegisterBenchmark(("softmax_f32_backward/" + runner.name + "/" + workload.name).c_str(),
                                         [runner, workload](benchmark::State &state) {
                                             bench_softmax_backward(state, runner, workload);
                                         })
                ->Unit(benchmark::kMicrosecond);
    }
    // The statistics and the concatenating merge on decode-32768 (after every backward row: one group each).
    for (const SoftmaxWorkload &workload : softmax_workloads()) {
        if (workload.name != "decode-32768")
            continue;
        const size_t elements = workload.elements(), copies = workload.copies;
        benchmark::RegisterBenchmark(("softmax_f32_stats/stream/" + workload.name).c_str(),
                                     [elements, copies](benchmark::State &state) {
                                         bench_stream(state, elements, copies);
                                     })
            ->Unit(benchmark::kMicrosecond);
        for (const Implementation &runner : runners)
            benchmark::RegisterBenchmark(("softmax_f32_stats/" + runner.name + "/" + workload.name).c_str(),
                                         [runner, workload](benchmark::State &state) {
                                             bench_softmax_stats(state, runner, workload);
                                         })
                ->Unit(benchmark::kMicrosecond);
        const std::string merged = workload.name + "-8blocks";
        benchmark::RegisterBenchmark(("softmax_f32_merge/stream/" + merged).c_str(),
                                     [elements, copies](benchmark::State &state) {
                                         bench_stream(state, elements, copies);
                                     })
            ->Unit(benchmark::kMicrosecond);
        for (const Implementation &runner : runners)
            benchmark::RegisterBenchmark(("softmax_f32_merge/" + runner.name + "/" + merged).c_str(),
                                         [runner, workload](benchmark::State &state) {
                                             bench_softmax_merge_concat(state, runner, workload, 8);
                                         })
                ->Unit(benchmark::kMicrosecond);
    }
    for (const Implementation &runner : runners)
        benchmark::RegisterBenchmark(("softmax_f32_merge/" + runner.name + "/flash-decode-8blocks").c_str(),
                                     [runner](benchmark::State &state) {
                                         bench_softmax_merge_sum(state, runner, 8, 32);
                                     })
            ->Unit(benchmark::kMicrosecond);
}

// The CPU's name as /proc/cpuinfo gives it: x86 "model name"; on Arm (no name there) the implementer and part
// codes; "unknown" elsewhere.
std::string cpu_model()
{
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line, implementer, part;
    const auto value_of = [&line]() {
        const std::string value = line.substr(line.find(':') + 1);
        return value.substr(std::min(value.find_first_not_of(" \t"), value.size()));
    };
    while (std::getline(cpuinfo, line)) {
        if (line.find(':') == std::string::npos)
            continue;
        if (line.rfind("model name", 0) == 0)
            return value_of();
        if (line.rfind("CPU implementer", 0) == 0 && implementer.empty())
            implementer = value_of();
        if (line.rfind("CPU part", 0) == 0 && part.empty())
            part = value_of();
    }
    if (!implementer.empty())
        return "Arm CPU implementer " + implementer + ", part " + part;
    return "unknown";
}

}  // namespace

int main(int argc, char **argv)
{
    // The dispatcher's choice at load, before any benchmark switches variants.
    const std::string isa_at_load = posenc_isa();

    for (int pairing : {POSENC_ROPE_HALF, POSENC_ROPE_INTERLEAVED}) {
        posenc_rope_config config;
        posenc_rope_config_init(&config, sizeof config);
        config.head_dim = kHeadDim;
        config.pairing = pairing;
        config.base = kRopeBase;
        const posenc_status status = posenc_rope_plan_create(&config, &rope_plans[pairing]);
        if (status != POSENC_OK) {
            std::fprintf(stderr, "posenc_bench: cannot create a RoPE plan: %s\n", posenc_strerror(status));
            return 1;
        }
    }

    std::vector<Implementation> variants;
    std::string compiled, supported;
    for (size_t i = 0; i < posenc_isa_count(); i++) {
        const bool runs = posenc_isa_supported(i) != 0;
        variants.push_back({posenc_isa_name(i), posenc_isa_name(i), runs});
        compiled += (compiled.empty() ? "" : " ") + std::string(posenc_isa_name(i));
        if (runs)
            supported += (supported.empty() ? "" : " ") + std::string(posenc_isa_name(i));
    }
    const Implementation dispatch{"dispatch", isa_at_load, true};

    benchmark::AddCustomContext("cpu_model", cpu_model());
    benchmark::AddCustomContext("posenc_version", posenc_version());
    benchmark::AddCustomContext("posenc_dispatch", isa_at_load);
    benchmark::AddCustomContext("posenc_variants_compiled", compiled);
    benchmark::AddCustomContext("posenc_variants_supported", supported);
#ifdef POSENC_BENCH_ONEDNN
    const int onednn_threads = onednn_use_one_thread();
    if (onednn_threads != 1) {
        std::fprintf(stderr, "posenc_bench: oneDNN would use %d threads, not 1\n", onednn_threads);
        return 1;
    }
    benchmark::AddCustomContext("onednn", onednn_description());
#else
    benchmark::AddCustomContext("onednn", "absent (built without libdnnl-dev)");
#endif

    register_rope(variants, dispatch);
    register_rope_reduced(variants, dispatch);
    register_softmax(variants, dispatch);
    register_softmax_layouts(variants, dispatch);
    register_exp_limit(variants);
    register_softmax_reduced(variants, dispatch);
    register_threads();
    register_softmax_split(variants, dispatch);

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();

    posenc_set_isa(isa_at_load.c_str());
    for (posenc_rope_plan *plan : rope_plans)
        posenc_rope_plan_destroy(plan);
    return 0;
}
