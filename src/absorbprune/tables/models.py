"""Tables of the models the workflow builds (rules/models.smk): the tiny models' training, the
GGUF conversion."""

from __future__ import annotations

import pyarrow as pa

from .common import nullable

__all__ = ["CONVERSION", "TRAIN_CURVE", "TRAIN_SUMMARY"]


TRAIN_CURVE = pa.schema(
    [
        ("model", pa.string()),  # config model key
        ("step", pa.int64()),  # optimizer steps taken (0 = before training)
        nullable("lr"),  # learning rate of that step (NaN at step 0)
        nullable("train_loss"),  # mean token cross-entropy of that step's batch, nats (NaN at step 0)
        nullable("valid_ppl"),  # validation perplexity at that step (NaN between eval points)
    ]
)

TRAIN_SUMMARY = pa.schema(
    [
        ("model", pa.string()),
        ("family", pa.string()),
        ("n_blocks", pa.int64()),
        ("n_params", pa.int64()),  # all parameters, embeddings included
        ("steps", pa.int64()),
        ("tokens_seen", pa.int64()),  # steps x batch_size x seqlen
        ("valid_ppl_before", pa.float64()),  # validation perplexity of the random init
        ("valid_ppl_after", pa.float64()),  # validation perplexity after training
        ("train_seconds", pa.float64()),  # wall time of the optimisation loop (informative only)
        ("weights_sha256", pa.string()),  # sha256 of model.safetensors (bit-identity check)
    ]
)

CONVERSION = pa.schema(
    [
        ("model", pa.string()),  # config model key
        ("family", pa.string()),
        ("gguf_file", pa.string()),  # the GGUF file converted (absolute path on the converting machine)
        ("gguf_sha256", pa.string()),  # sha256 of that file
        ("architecture", pa.string()),  # GGUF general.architecture
        ("file_type", pa.string()),  # GGUF general.file_type (the quantization, e.g. MOSTLY_Q4_1)
        ("tensor_types", pa.string()),  # quantization type:count of every tensor in the file
        ("n_blocks", pa.int64()),
        ("n_params", pa.int64()),  # all parameters of the converted model, embeddings included
        ("weights_sha256", pa.string()),  # sha256 of the converted model.safetensors (float32)
    ]
)
