"""absorbprune: layer-wise sparsity with perturbation absorption (arXiv 2606.15161)."""
