// onednn_softmax.cc - the oneDNN softmax primitive wrapped for the benchmark, forced to a single thread.
#include "onednn_softmax.h"

#include <oneapi/dnnl/dnnl.hpp>

#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif

int onednn_use_one_thread()
{
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
    // oneDNN's OpenMP runtime asks omp_get_max_threads() of the calling thread at every primitive execution.
    omp_set_num_threads(1);
    return omp_get_max_threads();
#elif DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_SEQ
    return 1;
#else
#error "this oneDNN build uses a threading runtime the benchmark cannot limit to one thread"
#endif
}

std::string onednn_description()
{
    const dnnl_version_t *version = dnnl_version();
    std::string text = "oneDNN " + std::to_string(version->major) + "." + std::to_string(version->minor) + "." +
                       std::to_string(version->patch);
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
    text += " (OpenMP, " + std::to_string(omp_get_max_threads()) + " thread)";
#else
    text += " (sequential)";
#endif
    return text;
}

struct OnednnSoftmax::Primitive {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};
    dnnl::memory data;
    dnnl::softmax_forward softmax;
    std::string implementation;
};

OnednnSoftmax::OnednnSoftmax(size_t rows, size_t cols) : primitive_(new Primitive)
{
    const dnnl::memory::desc layout({static_cast<dnnl::memory::dim>(rows), static_cast<dnnl::memory::dim>(cols)},
                                    dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
    const dnnl::softmax_forward::desc description(dnnl::prop_kind::forward_inference, layout, 1);
    const dnnl::softmax_forward::primitive_desc chosen(description, primitive_->engine);
    primitive_->implementation = chosen.impl_info_str();
    primitive_->softmax = dnnl::softmax_forward(chosen);
    primitive_->data = dnnl::memory(layout, primitive_->engine, DNNL_MEMORY_NONE);
}

OnednnSoftmax::~OnednnSoftmax() = default;

int OnednnSoftmax::run(float *data)
{
    try {
        primitive_->data.set_data_handle(data);
        primitive_->softmax.execute(primitive_->stream,
                                    {{DNNL_ARG_SRC, primitive_->data}, {DNNL_ARG_DST, primitive_->data}});
        primitive_->stream.wait();
    } catch (const dnnl::error &) {
        return -1;
    }
    return 0;
}

std::string OnednnSoftmax::implementation() const
{
    return primitive_->implementation;
}
