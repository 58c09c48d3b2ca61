"""test_hf_configs.py - RopePlan.from_hf_config on published model configurations (typed in, no network) vs HF's formulas."""
import copy
import json

import numpy as np
import pytest

import posenc
from hf_reference import (apply_rotary, cos_sin, head_rel_error, mrope_freqs, mrope_interleaved_freqs,
                          rope_default, rope_dynamic, rope_linear, rope_llama3, rope_longrope, rope_yarn, rope_1d)

TOL = 2e-6

# ---- published configurations (the RoPE-relevant part of each model's config.json) ----------------------------
LLAMA_3_1_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
    "num_key_value_heads": 8, "num_hidden_layers": 32, "max_position_embeddings": 131072, "rope_theta": 500000.0,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
}

QWEN2_5_7B = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584, "num_attention_heads": 28,
    "num_key_value_heads": 4, "max_position_embeddings": 131072, "rope_theta": 1000000.0, "rope_scaling": None,
    "sliding_window": 131072,
}

# Qwen2.5-7B-Instruct with the YaRN block its model card tells users to add for contexts beyond 32768.
QWEN2_5_7B_INSTRUCT_YARN = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 3584, "num_attention_heads": 28,
    "num_key_value_heads": 4, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
    "rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"},
}

DEEPSEEK_V2_LITE = {
    "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2", "hidden_size": 2048,
    "num_attention_heads": 16, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "kv_lora_rank": 512, "q_lora_rank": None, "max_position_embeddings": 163840, "rope_theta": 10000,
    "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707,
                     "original_max_position_embeddings": 4096, "type": "yarn"},
}

# Phi-3-mini-128k-instruct as first published (April 2024, rope_scaling type "su").
PHI_3_MINI_128K_LONG = [
    1.0299999713897705, 1.0499999523162842, 1.0499999523162842, 1.0799999237060547, 1.2299998998641968,
    1.2299998998641968, 1.2999999523162842, 1.4499999284744263, 1.5999999046325684, 1.6499998569488525,
    1.8999998569488525, 2.859999895095825, 3.68999981880188, 5.419999599456787, 5.489999771118164,
    5.489999771118164, 9.09000015258789, 11.579999923706055, 15.65999984741211, 15.769999504089355,
    15.789999961853027, 18.360000610351562, 21.989999771118164, 23.079999923706055, 30.009998321533203,
    32.35000228881836, 32.590003967285156, 35.56000518798828, 39.95000457763672, 53.840003967285156,
    56.20000457763672, 57.95000457763672, 59.29000473022461, 59.77000427246094, 59.920005798339844,
    61.190006256103516, 61.96000671386719, 62.50000762939453, 63.3700065612793, 63.48000717163086,
    63.48000717163086, 63.66000747680664, 63.850006103515625, 64.08000946044922, 64.760009765625,
    64.80001068115234, 64.81001281738281, 64.81001281738281,
]
PHI_3_MINI_128K_SHORT = [
    1.05, 1.05, 1.05, 1.1, 1.1, 1.1500000000000001, 1.2000000000000002, 1.2500000000000002, 1.3000000000000003,
    1.3500000000000003, 1.5000000000000004, 2.000000000000001, 2.000000000000001, 2.000000000000001,
    2.000000000000001, 2.000000000000001, 2.000000000000001, 2.000000000000001, 2.000000000000001,
    2.000000000000001, 2.000000000000001, 2.000000000000001, 2.000000000000001, 2.000000000000001,
    2.000000000000001, 2.000000000000001, 2.000000000000001, 2.000000000000001, 2.000000000000001,
    2.000000000000001, 2.000000000000001, 2.000000000000001, 2.0500000000000007, 2.0500000000000007,
    2.0500000000000007, 2.1000000000000005, 2.1000000000000005, 2.1000000000000005, 2.1500000000000004,
    2.1500000000000004, 2.3499999999999996, 2.549999999999999, 2.5999999999999988, 2.5999999999999988,
    2.7499999999999982, 2.849999999999998, 2.849999999999998, 2.9499999999999975,
]
PHI_3_MINI_128K = {
    "architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "hidden_size": 3072, "num_attention_heads": 32,
    "num_key_value_heads": 32, "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
    "rope_theta": 10000.0, "sliding_window": 262144,
    "rope_scaling": {"long_factor": PHI_3_MINI_128K_LONG, "short_factor": PHI_3_MINI_128K_SHORT, "type": "su"},
}

GPT_OSS_20B = {
    "architectures": ["GptOssForCausalLM"], "model_type": "gpt_oss", "hidden_size": 2880, "head_dim": 64,
    "num_attention_heads": 64, "num_key_value_heads": 8, "max_position_embeddings": 131072, "rope_theta": 150000,
    "rope_scaling": {"beta_fast": 32.0, "beta_slow": 1.0, "factor": 32.0, "original_max_position_embeddings": 4096,
                     "rope_type": "yarn", "truncate": False},
    "sliding_window": 128,
}

QWEN2_VL_7B = {
    "architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl", "hidden_size": 3584,
    "num_attention_heads": 28, "num_key_value_heads": 4, "max_position_embeddings": 32768,
    "rope_theta": 1000000.0, "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]},
    "vision_config": {"depth": 32, "embed_dim": 1280, "num_heads": 16, "patch_size": 14},
}

QWEN3_VL_8B = {
    "architectures": ["Qwen3VLForConditionalGeneration"], "model_type": "qwen3_vl",
    "text_config": {
        "model_type": "qwen3_vl_text", "hidden_size": 4096, "head_dim": 128, "num_attention_heads": 32,
        "num_key_value_heads": 8, "max_position_embeddings": 262144, "rope_theta": 5000000,
        "rope_scaling": {"mrope_interleaved": True, "mrope_section": [24, 20, 20], "rope_type": "default"},
    },
    "vision_config": {"depth": 27, "hidden_size": 1152, "num_heads": 16, "patch_size": 16},
}

# lmsys/vicuna-7b-v1.5-16k: Llama 2 with linear position interpolation.
VICUNA_7B_16K = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
    "max_position_embeddings": 4096, "rope_scaling": {"factor": 4.0, "type": "linear"},
}

# Llama-2-7B with transformers' documented dynamic-NTK example (rope_scaling={"type": "dynamic", "factor": 2.0}).
LLAMA_2_7B_DYNAMIC = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
    "max_position_embeddings": 4096, "rope_theta": 10000.0, "rope_scaling": {"type": "dynamic", "factor": 2.0},
}

# microsoft/phi-2: partial rotary (32 of 80 elements per head).
PHI_2 = {
    "architectures": ["PhiForCausalLM"], "model_type": "phi", "hidden_size": 2560, "num_attention_heads": 32,
    "max_position_embeddings": 2048, "partial_rotary_factor": 0.4, "rope_theta": 10000.0, "rope_scaling": None,
}


def rand(rng, *shape):
    return rng.uniform(-1, 1, shape).astype(np.float32)


def check_plan(rng, plan, inv_freq, attention, head_dim, rotary_dim, interleaved=False, positions=None):
    assert (plan.head_dim, plan.rotary_dim) == (head_dim, rotary_dim)
    assert plan.pairing == ("interleaved" if interleaved else "half")
    assert np.allclose(plan.frequencies, inv_freq, rtol=1e-12, atol=0)
    assert plan.mscale == pytest.approx(attention, rel=1e-12)
    x = rand(rng, 5, 3, head_dim)
    positions = np.array([0, 1, 4095, 40000, 131071]) if positions is None else positions
    ref = rope_1d(x, inv_freq, positions, attention, interleaved)
    assert head_rel_error(plan.apply(x, positions=positions), ref) <= TOL


def test_llama_3_1_8b(rng):
    plan = posenc.RopePlan.from_hf_config(LLAMA_3_1_8B)
    check_plan(rng, plan, *rope_llama3(500000.0, 128, 8.0, 1.0, 4.0, 8192), 128, 128)


def test_qwen2_5_7b_and_its_yarn_variant(rng):
    check_plan(rng, posenc.RopePlan.from_hf_config(QWEN2_5_7B), *rope_default(1e6, 128), 128, 128)
    plan = posenc.RopePlan.from_hf_config(QWEN2_5_7B_INSTRUCT_YARN)
    inv_freq, attention = rope_yarn(1e6, 128, 4.0, 32768)
    assert attention == pytest.approx(1.0 + 0.1 * np.log(4.0))
    check_plan(rng, plan, inv_freq, attention, 128, 128)


def test_deepseek_v2_lite_interleaved_yarn_with_mscale(rng):
    plan = posenc.RopePlan.from_hf_config(DEEPSEEK_V2_LITE)
    inv_freq, attention = rope_yarn(10000.0, 64, 40.0, 4096, mscale=0.707, mscale_all_dim=0.707)
    assert attention == 1.0       # mscale == mscale_all_dim: the ratio is 1
    check_plan(rng, plan, inv_freq, attention, 64, 64, interleaved=True)
    # the pairing can be overridden (e.g. weights already permuted for rotate_half)
    assert posenc.RopePlan.from_hf_config(DEEPSEEK_V2_LITE, pairing="half").pairing == "half"


@pytest.mark.parametrize("sequence_length,use_long", [(None, False), (4096, False), (4097, True), (131072, True)])
def test_phi_3_mini_128k_longrope_list_by_sequence_length(rng, sequence_length, use_long):
    plan = posenc.RopePlan.from_hf_config(PHI_3_MINI_128K, sequence_length=sequence_length)
    inv_freq, attention = rope_longrope(10000.0, 96, PHI_3_MINI_128K_SHORT, PHI_3_MINI_128K_LONG, 131072, 4096,
                                        seq_len=sequence_length)
    assert attention == pytest.approx(1.1902380714238083, rel=1e-12)   # sqrt(1 + ln 32 / ln 4096)
    check_plan(rng, plan, inv_freq, attention, 96, 96)
    other = PHI_3_MINI_128K_SHORT if use_long else PHI_3_MINI_128K_LONG
    assert not np.allclose(plan.frequencies, rope_longrope(10000.0, 96, other, other, 131072, 4096)[0])


def test_gpt_oss_20b_yarn_truncate_false(rng):
    lib = posenc.library()
    if not lib.has_field(posenc._lib.RopeConfig, "truncate"):
        with pytest.raises(posenc.ConfigError, match="truncate") as info:
            posenc.RopePlan.from_hf_config(GPT_OSS_20B)
        assert info.value.field == "truncate"
        with pytest.raises(NotImplementedError, match="truncate"):
            posenc.RopePlan(head_dim=64, scaling="yarn", factor=32.0, original_max_position=4096, truncate=False)
        # HF's default (truncate absent or true) maps on every version
        truncated = copy.deepcopy(GPT_OSS_20B)
        del truncated["rope_scaling"]["truncate"]
        check_plan(rng, posenc.RopePlan.from_hf_config(truncated), *rope_yarn(150000.0, 64, 32.0, 4096), 64, 64)
        return
    plan = posenc.RopePlan.from_hf_config(GPT_OSS_20B)
    check_plan(rng, plan, *rope_yarn(150000.0, 64, 32.0, 4096, truncate=False), 64, 64)


def test_qwen2_vl_7b_mrope(rng):
    plan = posenc.RopePlan.from_hf_config(QWEN2_VL_7B)
    assert plan.n_axes == 3 and plan.head_dim == 128
    inv_freq, _ = rope_default(1e6, 128)
    pos = np.array([[0, 1, 1, 1, 5], [0, 1, 1, 2, 5], [0, 1, 2, 1, 5]])
    x = rand(rng, 5, 4, 128)
    cos, sin = cos_sin(mrope_freqs(inv_freq, pos, [16, 24, 24]), 1.0)
    assert head_rel_error(plan.apply(x, positions=pos.T), apply_rotary(x, cos, sin)) <= TOL


def test_qwen3_vl_8b_interleaved_mrope_from_text_config(rng):
    plan = posenc.RopePlan.from_hf_config(QWEN3_VL_8B)
    assert plan.n_axes == 3 and plan.head_dim == 128
    inv_freq, _ = rope_default(5e6, 128)
    pos = np.array([[3, 3, 3, 9], [3, 4, 5, 9], [3, 6, 2, 9]])
    x = rand(rng, 4, 2, 128)
    cos, sin = cos_sin(mrope_interleaved_freqs(inv_freq, pos, [24, 20, 20]), 1.0)
    assert head_rel_error(plan.apply(x, positions=pos.T), apply_rotary(x, cos, sin)) <= TOL


def test_linear_dynamic_and_partial_rotary(rng):
    check_plan(rng, posenc.RopePlan.from_hf_config(VICUNA_7B_16K), *rope_linear(10000.0, 128, 4.0), 128, 128)
    for length in (None, 3000, 4096, 10000):
        plan = posenc.RopePlan.from_hf_config(LLAMA_2_7B_DYNAMIC, sequence_length=length)
        check_plan(rng, plan, *rope_dynamic(10000.0, 128, 2.0, 4096, length), 128, 128)
    plan = posenc.RopePlan.from_hf_config(PHI_2)
    check_plan(rng, plan, *rope_default(10000.0, 32), 80, 32)


def test_rope_parameters_of_newer_transformers(rng):
    """transformers 5 moves rope_theta (and partial_rotary_factor) into rope_parameters."""
    config = {k: v for k, v in LLAMA_3_1_8B.items() if k not in ("rope_scaling", "rope_theta")}
    config["rope_parameters"] = dict(LLAMA_3_1_8B["rope_scaling"], rope_theta=500000.0)
    check_plan(rng, posenc.RopePlan.from_hf_config(config), *rope_llama3(500000.0, 128, 8.0, 1.0, 4.0, 8192),
               128, 128)
    per_layer = dict(config, rope_parameters={"full_attention": config["rope_parameters"],
                                              "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0,
                                                                    "partial_rotary_factor": 0.5}})
    with pytest.raises(posenc.ConfigError, match="layer_type"):
        posenc.RopePlan.from_hf_config(per_layer)
    sliding = posenc.RopePlan.from_hf_config(per_layer, layer_type="sliding_attention")
    check_plan(rng, sliding, *rope_default(10000.0, 64), 128, 64)


def test_paths_and_config_objects(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_3_1_8B))
    by_file = posenc.RopePlan.from_hf_config(str(tmp_path / "config.json"))
    by_dir = posenc.RopePlan.from_hf_config(tmp_path)

    class PretrainedLike:               # what a transformers PretrainedConfig offers
        def to_dict(self):
            return copy.deepcopy(LLAMA_3_1_8B)

    by_object = posenc.RopePlan.from_hf_config(PretrainedLike())
    assert np.array_equal(by_file.frequencies, by_dir.frequencies)
    assert np.array_equal(by_file.frequencies, by_object.frequencies)
    with pytest.raises(TypeError):
        posenc.RopePlan.from_hf_config(42)


@pytest.mark.parametrize("change,field", [
    (lambda c: c["rope_scaling"].update(rope_type="proportional"), "rope_type"),
    (lambda c: c["rope_scaling"].pop("factor"), "factor"),
    (lambda c: c["rope_scaling"].pop("low_freq_factor"), "low_freq_factor"),
    (lambda c: c["rope_scaling"].update(factor="8"), "factor"),
    (lambda c: c.update(rope_theta=-1.0), "rope_theta"),
    (lambda c: (c.pop("hidden_size"), c.pop("num_attention_heads")), "head_dim"),
    (lambda c: c.update(partial_rotary_factor=0.2), "partial_rotary_factor"),
])
def test_unmappable_fields_are_named(change, field):
    config = copy.deepcopy(LLAMA_3_1_8B)
    change(config)
    with pytest.raises(posenc.ConfigError) as info:
        posenc.RopePlan.from_hf_config(config)
    assert info.value.field == field and field in str(info.value)
    assert isinstance(info.value, posenc.Error) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("change,field", [
    (lambda p: p.update(mrope_section=[16, 24, 23]), "mrope_section"),
    (lambda p: p.update(mrope_section=[16, 48]), "mrope_section"),
    (lambda p: (p.pop("mrope_section"), p.update(mrope_interleaved=True)), "mrope_section"),
])
def test_unmappable_mrope_sections(change, field):
    config = copy.deepcopy(QWEN2_VL_7B)
    change(config["rope_scaling"])
    with pytest.raises(posenc.ConfigError, match=field):
        posenc.RopePlan.from_hf_config(config)


def test_unmappable_longrope_and_yarn_fields():
    config = copy.deepcopy(PHI_3_MINI_128K)
    config["rope_scaling"]["short_factor"] = PHI_3_MINI_128K_SHORT[:-1]
    with pytest.raises(posenc.ConfigError, match="short_factor"):
        posenc.RopePlan.from_hf_config(config)
    config = copy.deepcopy(QWEN2_5_7B_INSTRUCT_YARN)
    config["rope_scaling"]["truncate"] = "no"
    with pytest.raises(posenc.ConfigError, match="truncate"):
        posenc.RopePlan.from_hf_config(config)
    config = copy.deepcopy(QWEN2_5_7B_INSTRUCT_YARN)
    config["rope_scaling"]["attention_factor"] = 0.0
    with pytest.raises(posenc.ConfigError, match="attention_factor"):
        posenc.RopePlan.from_hf_config(config)
