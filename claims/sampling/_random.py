"""Standard normals for large Monte Carlo clouds: drawn in float32 (torch's
float64 sampler is ~5× slower on CPU) and used in the run's dtype.  The
statistics are unaffected by the 2⁻²⁴ granularity of the draws."""
import torch


def randn(*shape, generator, dtype, device):
    return torch.randn(*shape, generator=generator, dtype=torch.float32, device=device).to(dtype)
