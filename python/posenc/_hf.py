"""posenc._hf - maps a Hugging Face transformers config (rope_theta, rope_scaling / rope_parameters) to RopePlan."""

import json
import os
from collections.abc import Mapping

from . import _lib
from ._errors import ConfigError

__all__ = ["plan_arguments", "ROPE_TYPES"]

# HF rope_type -> libposenc scaling. "su" is early Phi-3's name for longrope; "mrope" is Qwen2-VL's name for the
# default frequencies with M-RoPE sections; "ntk" is older transformers' static NTK.
ROPE_TYPES = {"default": "none", "mrope": "none", "linear": "linear", "dynamic": "dynamic_ntk", "ntk": "ntk",
              "yarn": "yarn", "llama3": "llama3", "longrope": "longrope", "su": "longrope"}

# Models whose attention pairs adjacent elements (HF: rotate_every_two, or a permutation before rotate_half).
_INTERLEAVED_MODELS = {"gptj", "deepseek_v2", "deepseek_v3"}

_ROPE_KEYS = ("rope_theta", "rope_scaling", "rope_parameters", "hidden_size", "head_dim")


def _load(config):
    if isinstance(config, (str, bytes, os.PathLike)):
        path = os.fsdecode(config)
        if os.path.isdir(path):
            path = os.path.join(path, "config.json")
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    elif not isinstance(config, Mapping) and hasattr(config, "to_dict"):
        config = config.to_dict()   # a transformers PretrainedConfig
    if not isinstance(config, Mapping):
        raise TypeError("config must be a dict, a transformers config or a path to config.json, not %s"
                        % type(config).__name__)
    # Multimodal models keep the language model's settings in text_config (Qwen3-VL, Qwen3.5).
    text = config.get("text_config")
    if isinstance(text, Mapping) and not any(k in config for k in _ROPE_KEYS):
        config = text
    return config


def _number(value, field, positive=True):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError("%s must be a number, not %r" % (field, value), field)
    if positive and not value > 0:
        raise ConfigError("%s must be > 0, not %r" % (field, value), field)
    return float(value)


def _required(params, key, where):
    value = params.get(key)
    if value is None:
        raise ConfigError("%s.%s is required for this rope_type" % (where, key), key)
    return value


def _rope_params(cfg, layer_type):
    """(the rope dict, its name in the config): rope_parameters (newer transformers) or rope_scaling."""
    for where in ("rope_parameters", "rope_scaling"):
        params = cfg.get(where)
        if params is None:
            continue
        if not isinstance(params, Mapping):
            raise ConfigError("%s must be a dict, not %r" % (where, params), where)
        nested = {k: v for k, v in params.items() if isinstance(v, Mapping)}
        if nested and len(nested) == len(params):          # per layer type: {"full_attention": {...}, ...}
            if layer_type is None:
                raise ConfigError("%s has one entry per layer type (%s): pass layer_type=" % (
                    where, ", ".join(sorted(nested))), where)
            if layer_type not in nested:
                raise ConfigError("%s has no layer type %r (it has %s)" % (where, layer_type,
                                                                           ", ".join(sorted(nested))), where)
            return nested[layer_type], "%s[%r]" % (where, layer_type)
        return params, where
    return {}, "rope_scaling"


def plan_arguments(config, sequence_length=None, head_dim=None, pairing=None, layer_type=None):
    """RopePlan keyword arguments for a Hugging Face config. Follows transformers' rope init functions:

    - base: rope_theta (inside rope_parameters in newer transformers, else top level; default 10000).
    - head_dim: the argument, else qk_rope_head_dim (DeepSeek's rotated part), head_dim, or
      hidden_size // num_attention_heads; rotary_dim = int(head_dim * partial_rotary_factor).
    - pairing: the argument, else "interleaved" for rope_interleave = true and GPT-J / DeepSeek-V2/V3, else "half".
    - rope_type (or type): default, linear (factor), dynamic (factor; the original context is
      max_position_embeddings, the length sequence_length), yarn (factor, original_max_position_embeddings
      else max_position_embeddings, beta_fast, beta_slow, attention_factor, mscale, mscale_all_dim, truncate),
      llama3 (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings), longrope / su
      (short_factor, long_factor; original_max_position_embeddings at top level makes factor =
      max_position_embeddings / original_max_position_embeddings; the long list once sequence_length exceeds
      the original context), ntk; mrope_section (+ mrope_interleaved) selects the M-RoPE axes.
    Raises ConfigError naming the field it cannot map.
    """
    cfg = _load(config)
    params, where = _rope_params(cfg, layer_type)

    rope_type = params.get("rope_type") or params.get("type") or "default"
    if rope_type not in ROPE_TYPES:
        raise ConfigError("%s.rope_type %r is not one libposenc maps (it maps %s)" % (
            where, rope_type, ", ".join(sorted(ROPE_TYPES))), "rope_type")
    scaling = ROPE_TYPES[rope_type]

    base = params.get("rope_theta", cfg.get("rope_theta", 10000.0))
    base = _number(base, "rope_theta")

    if head_dim is None:
        for key in ("qk_rope_head_dim", "head_dim"):
            if cfg.get(key):
                head_dim = cfg[key]
                break
        else:
            hidden, heads = cfg.get("hidden_size"), cfg.get("num_attention_heads")
            if not hidden or not heads:
                raise ConfigError("the config has neither head_dim nor hidden_size and num_attention_heads",
                                  "head_dim")
            head_dim = hidden // heads
    if isinstance(head_dim, bool) or not isinstance(head_dim, int) or head_dim <= 0:
        raise ConfigError("head_dim must be a positive int, not %r" % (head_dim,), "head_dim")

    factor_of_dim = params.get("partial_rotary_factor", cfg.get("partial_rotary_factor", 1.0))
    factor_of_dim = _number(factor_of_dim, "partial_rotary_factor")
    rotary_dim = int(head_dim * factor_of_dim)
    if rotary_dim % 2 or rotary_dim <= 0 or rotary_dim > head_dim:
        raise ConfigError("head_dim %d * partial_rotary_factor %g = %d rotated elements: not an even count "
                          "in 2..head_dim" % (head_dim, factor_of_dim, rotary_dim), "partial_rotary_factor")

    if pairing is None:
        interleaved = cfg.get("rope_interleave") or cfg.get("model_type") in _INTERLEAVED_MODELS
        pairing = "interleaved" if interleaved else "half"

    args = dict(head_dim=head_dim, rotary_dim=rotary_dim, pairing=pairing, base=base, scaling=scaling)
    max_pos = cfg.get("max_position_embeddings")

    if scaling in ("linear", "ntk"):
        args["factor"] = _number(_required(params, "factor", where), "factor")
    elif scaling == "dynamic_ntk":
        args["factor"] = _number(_required(params, "factor", where), "factor")
        if max_pos is None:
            raise ConfigError("max_position_embeddings is required for rope_type dynamic",
                              "max_position_embeddings")
        args["original_max_position"] = _number(max_pos, "max_position_embeddings")
        if sequence_length is not None:
            args["sequence_length"] = _number(sequence_length, "sequence_length", positive=False)
    elif scaling == "yarn":
        args["factor"] = _number(_required(params, "factor", where), "factor")
        orig = params.get("original_max_position_embeddings") or max_pos
        if orig is None:
            raise ConfigError("%s.original_max_position_embeddings (or max_position_embeddings) is required for "
                              "yarn" % where, "original_max_position_embeddings")
        args["original_max_position"] = _number(orig, "original_max_position_embeddings")
        args["beta_fast"] = _number(params.get("beta_fast") or 32, "beta_fast")
        args["beta_slow"] = _number(params.get("beta_slow") or 1, "beta_slow")
        if params.get("attention_factor") is not None:
            args["attention_factor"] = _number(params["attention_factor"], "attention_factor")
        mscale, mscale_all_dim = params.get("mscale"), params.get("mscale_all_dim")
        if mscale and mscale_all_dim:       # HF: `if mscale and mscale_all_dim` (either 0 / None: unused)
            args["mscale"] = _number(mscale, "mscale")
            args["mscale_all_dim"] = _number(mscale_all_dim, "mscale_all_dim")
        truncate = params.get("truncate", True)
        if not isinstance(truncate, bool):
            raise ConfigError("%s.truncate must be true or false, not %r" % (where, truncate), "truncate")
        if not truncate:
            lib = _lib.library()
            if not lib.has_field(_lib.RopeConfig, "truncate"):
                raise ConfigError("%s.truncate = false (YaRN without rounding the correction range, as in "
                                  "gpt-oss) needs posenc_rope_config.truncate, which libposenc %s does not have"
                                  % (where, lib.version), "truncate")
            args["truncate"] = False
    elif scaling == "llama3":
        args["factor"] = _number(_required(params, "factor", where), "factor")
        args["low_freq_factor"] = _number(_required(params, "low_freq_factor", where), "low_freq_factor")
        args["high_freq_factor"] = _number(_required(params, "high_freq_factor", where), "high_freq_factor")
        args["original_max_position"] = _number(_required(params, "original_max_position_embeddings", where),
                                                "original_max_position_embeddings")
    elif scaling == "longrope":
        short = _required(params, "short_factor", where)
        long_ = _required(params, "long_factor", where)
        for key, values in (("short_factor", short), ("long_factor", long_)):
            if not isinstance(values, (list, tuple)) or len(values) != rotary_dim // 2:
                raise ConfigError("%s.%s must list rotary_dim/2 = %d factors, not %r" % (
                    where, key, rotary_dim // 2, values if not isinstance(values, (list, tuple))
                    else "%d entries" % len(values)), key)
        if cfg.get("original_max_position_embeddings"):          # Phi-3: factor from the two context lengths
            orig = _number(cfg["original_max_position_embeddings"], "original_max_position_embeddings")
            if max_pos is None:
                raise ConfigError("max_position_embeddings is required with original_max_position_embeddings",
                                  "max_position_embeddings")
            factor = _number(max_pos, "max_position_embeddings") / orig
        else:
            orig = params.get("original_max_position_embeddings") or max_pos
            if orig is None:
                raise ConfigError("original_max_position_embeddings or max_position_embeddings is required for "
                                  "longrope", "original_max_position_embeddings")
            orig = _number(orig, "original_max_position_embeddings")
            factor = _number(params.get("factor") or 1.0, "factor")
        args["original_max_position"] = orig
        args["factor"] = factor
        if params.get("attention_factor") is not None:
            args["attention_factor"] = _number(params["attention_factor"], "attention_factor")
        args["short_factors"] = [_number(v, "short_factor") for v in short]
        args["long_factors"] = [_number(v, "long_factor") for v in long_]
        args["use_long_factors"] = bool(sequence_length is not None and sequence_length > orig)

    sections = params.get("mrope_section")
    if sections is not None:
        if (not isinstance(sections, (list, tuple)) or len(sections) != 3
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sections)):
            raise ConfigError("%s.mrope_section must be three non-negative ints (t, h, w), not %r" % (
                where, sections), "mrope_section")
        if sum(sections) != rotary_dim // 2:
            raise ConfigError("%s.mrope_section %s sums to %d pairs; rotary_dim/2 is %d" % (
                where, list(sections), sum(sections), rotary_dim // 2), "mrope_section")
        args["axes"] = "mrope_interleaved" if params.get("mrope_interleaved") else "mrope"
        args["sections"] = list(sections)
    elif params.get("mrope_interleaved"):
        raise ConfigError("%s.mrope_interleaved is set without mrope_section" % where, "mrope_section")
    return args
