"""The RVC synthesizer (VITS decoder half) in torch: v1 (256-d content) and v2 (768-d), with and without F0.

Written for inference only, from the published architecture (RVC WebUI's ``SynthesizerTrnMs768NSFsid``
/ ``SynthesizerTrnMs256NSFsid`` and their ``_nono`` variants): a prior encoder (content + pitch
embedding, relative-position transformer), a reverse normalising flow (4 residual coupling layers),
and a HiFi-GAN generator, with a neural source filter (NSF: a sine at F0) in the F0 models.
Parameter names match the released checkpoints, so their state dicts load as they are once the
weight-norm pairs (``weight_g``/``weight_v``) are folded into plain weights (see ``checkpoint.py``).

Streaming: :meth:`Synthesizer.infer` decodes only the newest ``return_length`` frames. The prior
encoder sees every frame (its attention wants the context, and it is cheap), the flow sees
``FLOW_MARGIN`` frames more than the decoded part (its receptive field), and the generator, which is
most of the cost, runs on the returned frames alone. Noise for the latent and the NSF phase can be
handed in, so a frame that is decoded twice (overlapping windows) comes out the same both times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

#: slope of the leaky ReLUs inside the generator (the last one uses torch's default 0.01)
LRELU_SLOPE = 0.1
#: 4 coupling layers × WN(kernel 5, 3 layers, dilation 1) reach 4 × 3 × 2 = 24 frames to each side
FLOW_MARGIN = 24
#: the attention's relative-position window (VITS default)
REL_WINDOW = 10
#: scale of the latent noise at inference (RVC's 0.66666)
NOISE_SCALE = 0.66666


@dataclass(frozen=True, slots=True)
class SynthConfig:
    """The checkpoint's 18-item ``config`` list, named."""

    spec_channels: int
    segment_size: int
    inter_channels: int
    hidden_channels: int
    filter_channels: int
    n_heads: int
    n_layers: int
    kernel_size: int
    p_dropout: float
    resblock: str
    resblock_kernel_sizes: tuple[int, ...]
    resblock_dilation_sizes: tuple[tuple[int, ...], ...]
    upsample_rates: tuple[int, ...]
    upsample_initial_channel: int
    upsample_kernel_sizes: tuple[int, ...]
    spk_embed_dim: int
    gin_channels: int
    sr: int

    FIELDS = 18

    @classmethod
    def from_list(cls, values: list | tuple) -> SynthConfig:
        v = list(values)
        return cls(
            spec_channels=int(v[0]),
            segment_size=int(v[1]),
            inter_channels=int(v[2]),
            hidden_channels=int(v[3]),
            filter_channels=int(v[4]),
            n_heads=int(v[5]),
            n_layers=int(v[6]),
            kernel_size=int(v[7]),
            p_dropout=float(v[8]),
            resblock=str(v[9]),
            resblock_kernel_sizes=tuple(int(k) for k in v[10]),
            resblock_dilation_sizes=tuple(tuple(int(d) for d in ds) for ds in v[11]),
            upsample_rates=tuple(int(u) for u in v[12]),
            upsample_initial_channel=int(v[13]),
            upsample_kernel_sizes=tuple(int(k) for k in v[14]),
            spk_embed_dim=int(v[15]),
            gin_channels=int(v[16]),
            sr=int(v[17]),
        )

    def to_list(self) -> list:
        return [
            self.spec_channels,
            self.segment_size,
            self.inter_channels,
            self.hidden_channels,
            self.filter_channels,
            self.n_heads,
            self.n_layers,
            self.kernel_size,
            self.p_dropout,
            self.resblock,
            list(self.resblock_kernel_sizes),
            [list(d) for d in self.resblock_dilation_sizes],
            list(self.upsample_rates),
            self.upsample_initial_channel,
            list(self.upsample_kernel_sizes),
            self.spk_embed_dim,
            self.gin_channels,
            self.sr,
        ]

    @property
    def hop(self) -> int:
        return math.prod(self.upsample_rates)


def _pad_same(kernel: int, dilation: int = 1) -> int:
    return (kernel * dilation - dilation) // 2


# --- prior encoder -------------------------------------------------------------------------------------
class ChannelNorm(nn.Module):
    """LayerNorm over the channel axis of [B, C, T] (parameters named gamma/beta, as in the checkpoints)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.transpose(1, -1), (x.shape[1],), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


class RelativeAttention(nn.Module):
    """Multi-head self-attention with learned relative-position terms for keys and values.

    Offsets j - i within ±window get an embedding (shared by all heads); farther ones get none.
    """

    def __init__(self, channels: int, n_heads: int, window: int = REL_WINDOW) -> None:
        super().__init__()
        assert channels % n_heads == 0
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window = window
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        scale = self.k_channels**-0.5
        self.emb_rel_k = nn.Parameter(torch.randn(1, 2 * window + 1, self.k_channels) * scale)
        self.emb_rel_v = nn.Parameter(torch.randn(1, 2 * window + 1, self.k_channels) * scale)
        self._index_cache: dict[tuple[int, str], torch.Tensor] = {}

    def _rel_index(self, t: int, device: torch.device) -> torch.Tensor:
        key = (t, str(device))
        idx = self._index_cache.get(key)
        if idx is None:
            pos = torch.arange(t, device=device)
            rel = pos[None, :] - pos[:, None]  # j - i
            w = self.window
            # 2w+1 is the extra all-zero row for offsets outside the window
            idx = torch.where(rel.abs() <= w, rel + w, torch.full_like(rel, 2 * w + 1))
            if len(self._index_cache) > 8:
                self._index_cache.clear()
            self._index_cache[key] = idx
        return idx

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        h, d = self.n_heads, self.k_channels
        q = self.conv_q(x).view(b, h, d, t).transpose(2, 3) / math.sqrt(d)
        k = self.conv_k(x).view(b, h, d, t).transpose(2, 3)
        v = self.conv_v(x).view(b, h, d, t).transpose(2, 3)
        idx = self._rel_index(t, x.device)
        zero = x.new_zeros(1, 1, d)
        rel_k = torch.cat([self.emb_rel_k, zero], dim=1)[0]  # [2w+2, d]
        rel_v = torch.cat([self.emb_rel_v, zero], dim=1)[0]
        scores = q @ k.transpose(-2, -1)  # [b, h, t, t]
        q_rel = q @ rel_k.t()  # [b, h, t, 2w+2]
        scores = scores + torch.gather(q_rel, -1, idx.expand(b, h, t, t))
        scores = scores.masked_fill(attn_mask == 0, -1e4)
        p = torch.softmax(scores, dim=-1)
        out = p @ v
        buckets = p.new_zeros(b, h, t, rel_v.shape[0]).scatter_add_(-1, idx.expand(b, h, t, t), p)
        out = out + buckets @ rel_v
        out = out.transpose(2, 3).reshape(b, c, t)
        return self.conv_o(out)


class FeedForward(nn.Module):
    def __init__(self, channels: int, filter_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        return F.pad(x, ((k - 1) // 2, k // 2)) if k > 1 else x

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv_1(self._pad(x * mask)))
        return self.conv_2(self._pad(x * mask)) * mask


class AttentionStack(nn.Module):
    def __init__(self, hidden: int, filter_channels: int, n_heads: int, n_layers: int, kernel: int) -> None:
        super().__init__()
        self.attn_layers = nn.ModuleList(RelativeAttention(hidden, n_heads) for _ in range(n_layers))
        self.norm_layers_1 = nn.ModuleList(ChannelNorm(hidden) for _ in range(n_layers))
        self.ffn_layers = nn.ModuleList(FeedForward(hidden, filter_channels, kernel) for _ in range(n_layers))
        self.norm_layers_2 = nn.ModuleList(ChannelNorm(hidden) for _ in range(n_layers))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attn_mask = mask.unsqueeze(2) * mask.unsqueeze(-1)
        x = x * mask
        for attn, n1, ffn, n2 in zip(
            self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2, strict=True
        ):
            x = n1(x + attn(x, attn_mask))
            x = n2(x + ffn(x, mask))
        return x * mask


class PriorEncoder(nn.Module):
    """Content features (+ coarse pitch) → mean and log-scale of the latent, per frame."""

    def __init__(self, cfg: SynthConfig, content_dim: int, use_f0: bool) -> None:
        super().__init__()
        hidden = cfg.hidden_channels
        self.hidden = hidden
        self.emb_phone = nn.Linear(content_dim, hidden)
        self.emb_pitch = nn.Embedding(256, hidden) if use_f0 else None
        self.encoder = AttentionStack(hidden, cfg.filter_channels, cfg.n_heads, cfg.n_layers, cfg.kernel_size)
        self.proj = nn.Conv1d(hidden, cfg.inter_channels * 2, 1)

    def forward(
        self, phone: torch.Tensor, pitch: torch.Tensor | None, skip: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.emb_phone(phone)
        if self.emb_pitch is not None and pitch is not None:
            x = x + self.emb_pitch(pitch)
        x = F.leaky_relu(x * math.sqrt(self.hidden), 0.1).transpose(1, 2)  # [B, H, T]
        mask = torch.ones(x.shape[0], 1, x.shape[2], dtype=x.dtype, device=x.device)
        x = self.encoder(x, mask)
        if skip:
            x = x[:, :, skip:]
        stats = self.proj(x)
        m, logs = stats.chunk(2, dim=1)
        return m, logs


# --- flow ---------------------------------------------------------------------------------------------
class WaveNet(nn.Module):
    """Gated dilated convolutions with a speaker condition (the ``WN`` of VITS)."""

    def __init__(self, hidden: int, kernel: int, dilation_rate: int, n_layers: int, gin: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.n_layers = n_layers
        self.cond_layer = nn.Conv1d(gin, 2 * hidden * n_layers, 1) if gin else None
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(n_layers):
            d = dilation_rate**i
            self.in_layers.append(
                nn.Conv1d(hidden, 2 * hidden, kernel, dilation=d, padding=_pad_same(kernel, d))
            )
            out = 2 * hidden if i < n_layers - 1 else hidden
            self.res_skip_layers.append(nn.Conv1d(hidden, out, 1))

    def forward(self, x: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        h = self.hidden
        output = torch.zeros_like(x)
        cond = self.cond_layer(g) if (self.cond_layer is not None and g is not None) else None
        for i in range(self.n_layers):
            a = self.in_layers[i](x)
            if cond is not None:
                a = a + cond[:, i * 2 * h : (i + 1) * 2 * h]
            acts = torch.tanh(a[:, :h]) * torch.sigmoid(a[:, h:])
            rs = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                x = x + rs[:, :h]
                output = output + rs[:, h:]
            else:
                output = output + rs
        return output


class CouplingLayer(nn.Module):
    """Mean-only affine coupling: half the channels shift the other half."""

    def __init__(self, channels: int, hidden: int, kernel: int, n_layers: int, gin: int) -> None:
        super().__init__()
        self.half = channels // 2
        self.pre = nn.Conv1d(self.half, hidden, 1)
        self.enc = WaveNet(hidden, kernel, 1, n_layers, gin)
        self.post = nn.Conv1d(hidden, self.half, 1)

    def reverse(self, x: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        x0, x1 = x[:, : self.half], x[:, self.half :]
        m = self.post(self.enc(self.pre(x0), g))
        return torch.cat([x0, x1 - m], dim=1)


class Flip(nn.Module):
    def reverse(self, x: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        return torch.flip(x, [1])


class ReverseFlow(nn.Module):
    def __init__(self, channels: int, hidden: int, gin: int, n_flows: int = 4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(n_flows):
            layers += [CouplingLayer(channels, hidden, 5, 3, gin), Flip()]
        self.flows = nn.ModuleList(layers)

    def forward(self, z: torch.Tensor, g: torch.Tensor | None) -> torch.Tensor:
        for layer in reversed(self.flows):
            z = layer.reverse(z, g)
        return z


# --- generator ----------------------------------------------------------------------------------------
class ResBlockA(nn.Module):
    """HiFi-GAN resblock "1": pairs of (dilated conv, plain conv) with residuals."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=_pad_same(kernel, d)) for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, padding=_pad_same(kernel)) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            x = x + c2(F.leaky_relu(c1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class ResBlockB(nn.Module):
    """HiFi-GAN resblock "2": single dilated convs with residuals."""

    def __init__(self, channels: int, kernel: int, dilations: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, dilation=d, padding=_pad_same(kernel, d)) for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c in self.convs:
            x = x + c(F.leaky_relu(x, LRELU_SLOPE))
        return x


class HarmonicSource(nn.Module):
    """NSF source: a sine at F0 (noise where unvoiced), through a learned gain and tanh."""

    SINE_AMP = 0.1
    NOISE_STD = 0.003

    def __init__(self, sr: int) -> None:
        super().__init__()
        self.sr = sr
        self.l_linear = nn.Linear(1, 1)

    def forward(
        self, f0: torch.Tensor, upp: int, phase0: torch.Tensor | None, noise: torch.Tensor | None
    ) -> torch.Tensor:
        """``f0`` [B, T] Hz per frame → [B, 1, T*upp]. ``phase0`` [B] in cycles: the phase accumulated
        before sample 0 (the sum of every earlier sample's step)."""
        f0_up = torch.repeat_interleave(f0, upp, dim=1)  # [B, N]
        step = f0_up / self.sr  # cycles per sample
        # as RVC's SineGen: a sample's phase includes its own step
        phase = torch.cumsum(step.double(), dim=1)
        if phase0 is not None:
            phase = phase + phase0.double()[:, None]
        sine = torch.sin(2 * math.pi * torch.remainder(phase, 1.0)).to(f0.dtype) * self.SINE_AMP
        uv = (f0_up > 0).to(f0.dtype)
        amp = uv * self.NOISE_STD + (1 - uv) * (self.SINE_AMP / 3)
        if noise is None:
            noise = torch.randn_like(sine)
        src = sine * uv + amp * noise
        return torch.tanh(self.l_linear(src.unsqueeze(-1))).transpose(1, 2)


class Generator(nn.Module):
    """HiFi-GAN generator; with ``sr`` set it is the NSF generator (adds the harmonic source per stage)."""

    def __init__(self, cfg: SynthConfig, use_f0: bool) -> None:
        super().__init__()
        ch = cfg.upsample_initial_channel
        self.num_kernels = len(cfg.resblock_kernel_sizes)
        self.upp = cfg.hop
        self.conv_pre = nn.Conv1d(cfg.inter_channels, ch, 7, padding=3)
        block = ResBlockA if cfg.resblock == "1" else ResBlockB
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        self.noise_convs = nn.ModuleList() if use_f0 else None
        self.m_source = HarmonicSource(cfg.sr) if use_f0 else None
        rates = cfg.upsample_rates
        for i, (u, k) in enumerate(zip(rates, cfg.upsample_kernel_sizes, strict=True)):
            c_in, c_out = ch // (2**i), ch // (2 ** (i + 1))
            self.ups.append(nn.ConvTranspose1d(c_in, c_out, k, u, padding=(k - u) // 2))
            if self.noise_convs is not None:
                if i + 1 < len(rates):
                    s = math.prod(rates[i + 1 :])
                    self.noise_convs.append(nn.Conv1d(1, c_out, s * 2, stride=s, padding=s // 2))
                else:
                    self.noise_convs.append(nn.Conv1d(1, c_out, 1))
            for kr, dr in zip(cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True):
                self.resblocks.append(block(c_out, kr, dr))
        self.conv_post = nn.Conv1d(ch // (2 ** len(rates)), 1, 7, padding=3, bias=False)
        self.cond = nn.Conv1d(cfg.gin_channels, ch, 1) if cfg.gin_channels else None

    def forward(
        self,
        z: torch.Tensor,
        g: torch.Tensor | None,
        f0: torch.Tensor | None = None,
        phase0: torch.Tensor | None = None,
        source_noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        har = None
        if self.m_source is not None:
            assert f0 is not None, "the NSF generator needs F0"
            har = self.m_source(f0, self.upp, phase0, source_noise)
        x = self.conv_pre(z)
        if self.cond is not None and g is not None:
            x = x + self.cond(g)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            if har is not None and self.noise_convs is not None:
                x = x + self.noise_convs[i](har)
            acc = None
            for j in range(self.num_kernels):
                y = self.resblocks[i * self.num_kernels + j](x)
                acc = y if acc is None else acc + y
            x = acc / self.num_kernels
        return torch.tanh(self.conv_post(F.leaky_relu(x)))


# --- the synthesizer ----------------------------------------------------------------------------------
class Synthesizer(nn.Module):
    """One class for the four released variants: content_dim 768 (v2) or 256 (v1), with or without F0."""

    def __init__(self, cfg: SynthConfig, content_dim: int, use_f0: bool, n_speakers: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.content_dim = content_dim
        self.use_f0 = use_f0
        self.enc_p = PriorEncoder(cfg, content_dim, use_f0)
        self.dec = Generator(cfg, use_f0)
        self.flow = ReverseFlow(cfg.inter_channels, cfg.hidden_channels, cfg.gin_channels)
        self.emb_g = nn.Embedding(n_speakers, cfg.gin_channels)

    @property
    def hop(self) -> int:
        return self.cfg.hop

    @torch.inference_mode()
    def infer(
        self,
        phone: torch.Tensor,
        pitch: torch.Tensor | None = None,
        pitchf: torch.Tensor | None = None,
        sid: int = 0,
        skip_head: int = 0,
        return_length: int | None = None,
        latent_noise: torch.Tensor | None = None,
        phase0: torch.Tensor | None = None,
        source_noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Audio [B, return_length * hop] for frames ``skip_head .. skip_head + return_length``.

        ``phone`` [B, T, C] at 100 frames/s; ``pitch`` [B, T] coarse 1–255 (long); ``pitchf`` [B, T]
        Hz. ``latent_noise`` [B, inter, T] (standard normal, defaults to fresh noise);
        ``phase0`` [B] the NSF phase (cycles) at the first returned sample; ``source_noise``
        [B, return_length * hop].
        """
        t = phone.shape[1]
        length = t - skip_head if return_length is None else return_length
        if skip_head < 0 or length < 1 or skip_head + length > t:
            raise ValueError(f"skip_head {skip_head} + return_length {length} exceed {t} frames")
        if self.use_f0 and (pitch is None or pitchf is None):
            raise ValueError("this voice model uses F0: pitch and pitchf are required")
        g = self.emb_g(torch.tensor([sid], device=phone.device)).unsqueeze(-1)
        flow_head = max(0, skip_head - FLOW_MARGIN)
        dec_head = skip_head - flow_head
        m, logs = self.enc_p(phone, pitch if self.use_f0 else None, flow_head)
        latent_noise = torch.randn_like(m) if latent_noise is None else latent_noise[:, :, flow_head:]
        z = self.flow(m + torch.exp(logs) * latent_noise * NOISE_SCALE, g)
        z = z[:, :, dec_head : dec_head + length]
        f0 = pitchf[:, skip_head : skip_head + length] if self.use_f0 and pitchf is not None else None
        return self.dec(z, g, f0, phase0, source_noise)[:, 0]
