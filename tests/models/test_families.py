"""The family adapter: replaying blocks from captured inputs reproduces the model exactly."""

from __future__ import annotations

import pytest
import torch

from absorbprune.models.adapter import Adapter
from absorbprune.models.families import get_family
from absorbprune.models.tiny import ArchSpec, random_model
from absorbprune.registry.models import FAMILIES

FAMILY_NAMES = sorted(FAMILIES)


def tiny(family: str, n_blocks: int = 4):
    return random_model(ArchSpec(family, 97, 32, 64, n_blocks, 4, 2, 64), seed=0)


def capture_block_inputs(adapter: Adapter, ids: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every block's input from one ordinary forward (hooks), and the decoder's final hidden state."""
    inputs: dict[int, torch.Tensor] = {}
    hooks = [
        block.register_forward_pre_hook(
            lambda mod, args, kwargs, i=i: inputs.__setitem__(
                i, args[0] if args else kwargs["hidden_states"]
            ),
            with_kwargs=True,
        )
        for i, block in adapter.iter_blocks()
    ]
    with torch.no_grad():
        final = adapter.decoder(input_ids=ids, use_cache=False).last_hidden_state
    for h in hooks:
        h.remove()
    return [inputs[i] for i in range(adapter.n_blocks)], final


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_rerun_from_every_block_reproduces_final_hidden_state_exactly(family):
    adapter = Adapter(tiny(family), family)
    ids = torch.randint(0, 97, (3, 16), generator=torch.Generator().manual_seed(1))
    inputs, final = capture_block_inputs(adapter, ids)
    assert torch.equal(adapter.embed(ids), inputs[0])
    for k in range(adapter.n_blocks):
        assert torch.equal(adapter.final(adapter.run_blocks(k, inputs[k])), final), f"restart at block {k}"


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_final_matches_lm_logits(family):
    """final() is what the LM head reads: head(final(h_{L-1})) equals the model's logits."""
    model = tiny(family)
    adapter = Adapter(model, family)
    ids = torch.randint(0, 97, (2, 9), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits = model(input_ids=ids).logits
        ours = model.lm_head(adapter.final(adapter.run_blocks(0, adapter.embed(ids))))
    assert torch.equal(ours, logits)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_linears_are_the_prunable_set(family):
    adapter = Adapter(tiny(family), family)
    names = list(adapter.linears(0))
    assert names == list(get_family(family).linears)
    assert all(isinstance(m, torch.nn.Linear) for m in adapter.linears(adapter.n_blocks - 1).values())


def test_run_block_accepts_a_replacement_module():
    adapter = Adapter(tiny("llama"), "llama")
    ids = torch.randint(0, 97, (1, 8))
    h = adapter.embed(ids)
    assert torch.equal(adapter.run_block(0, h, module=adapter.blocks[0]), adapter.run_block(0, h))


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_arguments_recorded_at_batch_one_serve_any_batch(family):
    adapter = Adapter(tiny(family), family)
    ids = torch.randint(0, 97, (5, 7), generator=torch.Generator().manual_seed(3))
    inputs, final = capture_block_inputs(adapter, ids)
    # no embed() call for this shape: arguments come from the batch-one recording of T = 7
    assert torch.equal(adapter.final(adapter.run_blocks(1, inputs[1])), final)
    assert adapter.run_blocks(0, torch.zeros(11, 9, 32)).shape == (11, 9, 32)


def test_family_mismatch_and_unknown_family_are_clear():
    with pytest.raises(ValueError, match=r"model_type='opt'.*family='llama'"):
        Adapter(tiny("opt"), "llama")
    with pytest.raises(KeyError, match=r"unknown model family .gpt2.; valid: \[.llama."):
        get_family("gpt2")


def test_gemma3_sliding_layers_mask_within_the_test_sequence_and_replay_exactly():
    """The tiny Gemma-3's window (8) is shorter than the sequence (16): its sliding layers get a
    banded mask and their own rotary table, the global layers the causal one; replayed from the
    recorded arguments, every restart is bit-exact, and a sliding layer given the global layer's
    arguments computes something else (the per-layer arguments matter)."""
    model = tiny("gemma3")
    adapter = Adapter(model, "gemma3")
    seqlen = 16
    assert model.config.sliding_window < seqlen
    assert set(model.config.layer_types) == {"sliding_attention", "full_attention"}
    ids = torch.randint(0, 97, (3, seqlen), generator=torch.Generator().manual_seed(4))
    inputs, final = capture_block_inputs(adapter, ids)
    assert torch.equal(adapter.embed(ids), inputs[0])
    for k in range(adapter.n_blocks):
        assert torch.equal(adapter.final(adapter.run_blocks(k, inputs[k])), final), f"restart at block {k}"
    sliding = model.config.layer_types.index("sliding_attention")
    full = model.config.layer_types.index("full_attention")
    local, glob = adapter.block_call(sliding, seqlen), adapter.block_call(full, seqlen)
    mask = local.kwargs["attention_mask"]
    assert mask is not None and not bool(mask[0, 0, -1, 0])  # the first token is out of the last's window
    assert not torch.equal(local.kwargs["position_embeddings"][0], glob.kwargs["position_embeddings"][0])
    with torch.no_grad():
        wrong = adapter.blocks[sliding](inputs[sliding], *glob.args, **glob.kwargs)
    wrong = wrong[0] if isinstance(wrong, tuple) else wrong
    assert not torch.allclose(wrong, adapter.run_block(sliding, inputs[sliding]))
