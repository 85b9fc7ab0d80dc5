"""The model adapter: a causal LM seen as ``embed -> f_0 ... f_{L-1} -> final``, through its
family (``models.families``), and every block runnable alone with its real arguments.

Block arguments. transformers 5 decoder layers take more than the hidden state: Llama-style layers
need ``position_embeddings=(cos, sin)`` from the model's rotary module, an attention mask (None
when SDPA can use ``is_causal``), ``position_ids``; Qwen2 chooses a full or sliding-window mask per
layer. Rather than re-deriving these per family (fragile across transformers versions), we record
them: every block is swapped for a recorder that stores its call arguments and returns its input
unchanged, and the *base* model runs once. Cost: embeddings plus the final norm, no block compute.
The inputs are never padded, so the arguments depend only on the sequence length T: they are
recorded once per T with a batch of one, and broadcast over any batch size (the rotary tables are
(1, T, D); the SDPA mask is None or (1, 1, T, T)). The family tests check the replay is bit-exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..registry.models import FAMILIES
from .families import BlockShape, get_family

__all__ = ["Adapter", "BlockCall"]


@dataclass
class BlockCall:
    """Recorded arguments of one block call: everything but the hidden state."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class _Recorder(nn.Module):
    """Stands in for a block during argument capture: stores the call, returns its input."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: torch.Tensor | None = None
        self.call: BlockCall | None = None

    def forward(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        self.hidden = hidden_states
        self.call = BlockCall(args=args, kwargs=kwargs)
        return hidden_states


class Adapter:
    """A causal LM seen as ``embed -> f_0 ... f_{L-1} -> final``.

    Args:
        model: a loaded ``*ForCausalLM`` of a family in ``registry.models.FAMILIES``.
        family: the family name (must agree with ``model.config.model_type``).
    """

    def __init__(self, model: nn.Module, family: str) -> None:
        self.family = get_family(family)
        model_type = getattr(model.config, "model_type", None)
        if model_type not in self.family.decoders:
            raise ValueError(
                f"model has config.model_type={model_type!r} but the config says family={family!r} "
                f"(which accepts {list(self.family.model_types)}); fix the model's 'family' key"
            )
        self.model = model
        self.decoder = self.family.decoders[model_type](model)
        self.blocks: nn.ModuleList = self.family.blocks(self.decoder)
        self._calls: dict[int, list[BlockCall]] = {}

    @property
    def bos_id(self) -> int | None:
        """The token that replaces the first of every perplexity window under the family's BOS
        policy (``registry.models.FamilyMeta.bos``): the model's ``bos_token_id`` for
        ``every_window``, ``None`` for ``none``.

        Raises:
            ValueError: the policy needs a BOS and the model's config has none.
        """
        if FAMILIES[self.family.name].meta.bos == "none":
            return None
        bos = getattr(self.model.config, "bos_token_id", None)
        if not isinstance(bos, int):
            raise ValueError(
                f"family {self.family.name!r} starts every window with a BOS token, but the model's "
                f"config has bos_token_id={bos!r}"
            )
        return bos

    def decoder_device(self) -> torch.device:
        """Device of the embeddings (where inputs go; blocks may be streamed from the CPU)."""
        return self.model.get_input_embeddings().weight.device

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    @property
    def shape(self) -> BlockShape:
        """The block sizes (width, MLP width, heads) from the model's config."""
        return self.family.shape(self.model.config)

    def linears(self, block: int) -> dict[str, nn.Linear]:
        """Prunable linears of one block, in the family's fixed order.

        Raises:
            ValueError: the block's ``nn.Linear`` set differs from the family's expected names
                (a new architecture variant the adapter does not know yet).
        """
        found = {n: m for n, m in self.blocks[block].named_modules() if isinstance(m, nn.Linear)}
        if set(found) != set(self.family.linears):
            raise ValueError(
                f"block {block} of family {self.family.name!r} has linears {sorted(found)}, "
                f"expected {sorted(self.family.linears)}"
            )
        return {n: found[n] for n in self.family.linears}

    def _record(self, input_ids: torch.Tensor) -> list[_Recorder]:
        """Run the decoder with every block replaced by a recorder (embeddings + final norm only)."""
        recorders = [_Recorder() for _ in range(self.n_blocks)]
        originals = list(self.blocks)
        for i, rec in enumerate(recorders):
            self.blocks[i] = rec
        try:
            self.decoder(input_ids=input_ids, use_cache=False)
        finally:
            for i, block in enumerate(originals):
                self.blocks[i] = block
        assert all(r.call is not None for r in recorders), "a block was not called by the decoder forward"
        return recorders

    @torch.no_grad()
    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Embedding output ``h_{-1}`` (B, T, C) of ``input_ids`` (B, T); records block arguments for T."""
        hidden = self._record(input_ids)[0].hidden
        assert hidden is not None
        self.block_call(0, input_ids.shape[1])
        return hidden

    @torch.no_grad()
    def block_call(self, block: int, seqlen: int) -> BlockCall:
        """The arguments ``block`` is called with for sequences of length ``seqlen`` (any batch)."""
        if seqlen not in self._calls:
            device = self.decoder_device()
            ids = torch.zeros(1, seqlen, dtype=torch.long, device=device)
            self._calls[seqlen] = [r.call for r in self._record(ids)]  # type: ignore[misc]
        return self._calls[seqlen][block]

    @torch.no_grad()
    def run_block(self, block: int, hidden: torch.Tensor, module: nn.Module | None = None) -> torch.Tensor:
        """``h_j = f_j(h_{j-1})`` for hidden (B, T, C), with the block's real arguments.

        Args:
            block: block index j.
            hidden: the block's input (B, T, C).
            module: run this module instead of ``blocks[j]`` (e.g. a pruned copy), same arguments.
        """
        call = self.block_call(block, hidden.shape[1])
        out = (module or self.blocks[block])(hidden, *call.args, **call.kwargs)
        return out[0] if isinstance(out, tuple) else out

    @torch.no_grad()
    def run_blocks(self, start: int, hidden: torch.Tensor, stop: int | None = None) -> torch.Tensor:
        """Run blocks ``start .. stop-1`` (default: to the end) on ``hidden``."""
        for j in range(start, self.n_blocks if stop is None else stop):
            hidden = self.run_block(j, hidden)
        return hidden

    @torch.no_grad()
    def final(self, hidden: torch.Tensor) -> torch.Tensor:
        """``h_final = final_norm(h_{L-1})`` (plus OPT's ``project_out`` when present)."""
        for module in self.family.finals(self.decoder):
            if module is not None:
                hidden = module(hidden)
        return hidden

    def place(self, device: torch.device) -> bool:
        """Put everything but the blocks on ``device``; the blocks too unless streaming.

        Streaming (``device`` is a GPU): the blocks stay on the CPU and a stage moves one block at a
        time to the GPU, so a model larger than the GPU can be processed.

        Returns:
            Whether the blocks are streamed.
        """
        stream = device.type == "cuda"
        if not stream:
            self.model.to(device)
            return False
        originals = list(self.blocks)
        for i in range(self.n_blocks):
            self.blocks[i] = nn.Identity()  # detach the blocks while the rest moves
        try:
            self.model.to(device)
        finally:
            for i, block in enumerate(originals):
                self.blocks[i] = block.to("cpu")
        self._calls.clear()  # recorded arguments live on the old device
        return True

    def iter_blocks(self) -> Iterator[tuple[int, nn.Module]]:
        return enumerate(self.blocks)
