"""Reading (and, for tests and benchmarks, writing) RVC voice files: the released ``.pth`` layout.

A voice ``.pth`` is a pickled dict::

    {"weight": state dict (fp16 tensors, no "enc_q.*"), "config": [18 items], "info": str,
     "sr": "40k" | "48k" | "32k", "f0": 0 | 1, "version": "v1" | "v2"}

Safety: a ``.pth`` from the internet is untrusted, and unpickling can run arbitrary code. Mirage
loads it only with ``torch.load(weights_only=True)``: torch's restricted unpickler, which builds
tensors, dicts (also OrderedDict), lists, tuples, strings, numbers, booleans and None, and refuses any
other class or callable. A file that needs more than that is rejected with a message, never
unpickled. The same goes for the state dict's contents: only tensors are accepted as weights.

Weight norm: the checkpoints store ``weight_g``/``weight_v`` pairs (or, from newer torch,
``parametrizations.weight.original0/1``); they are folded here into the plain ``weight`` the
inference modules use (w = g · v / ‖v‖, norm over all axes but the first).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from mirage_desktop.voice.converters.rvc.synth import SynthConfig, Synthesizer
from mirage_desktop.voice.errors import VoiceError

VERSIONS = {"v1": 256, "v2": 768}
SR_NAMES = {"32k": 32000, "40k": 40000, "48k": 48000}
#: the modules that carry weight norm in the released checkpoints
_WEIGHT_NORMED = re.compile(
    r"^(dec\.ups\.\d+|dec\.resblocks\.\d+\.convs[12]?\.\d+"
    r"|flow\.flows\.\d+\.enc\.(in_layers\.\d+|res_skip_layers\.\d+|cond_layer))$"
)


def _reference(spec: int, rates: list[int], kernels: list[int], sr: int) -> list:
    return [
        spec,
        32,
        192,
        192,
        768,
        2,
        6,
        3,
        0,
        "1",
        [3, 7, 11],
        [[1, 3, 5]] * 3,
        rates,
        512,
        kernels,
        109,
        256,
        sr,
    ]


#: the released configs (RVC WebUI's configs/v1|v2/*.json), for tests and the benchmark
REFERENCE_CONFIGS: dict[str, list] = {
    "48k": _reference(1025, [12, 10, 2, 2], [24, 20, 4, 4], 48000),
    "40k": _reference(1025, [10, 10, 2, 2], [16, 16, 4, 4], 40000),
    "32k": _reference(513, [10, 8, 2, 2], [20, 16, 4, 4], 32000),
}


class CheckpointError(VoiceError):
    """The voice file cannot be used; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class VoiceModel:
    synth: Synthesizer
    version: str
    use_f0: bool
    sr: int
    n_speakers: int
    info: str
    path: Path

    @property
    def content_dim(self) -> int:
        return VERSIONS[self.version]

    def describe(self) -> str:
        f0 = "with pitch" if self.use_f0 else "no pitch (nono)"
        return (
            f"{self.path.name}: RVC {self.version}, {self.sr // 1000} kHz, {f0}, {self.n_speakers} speaker(s)"
        )


def _fail(path: Path, why: str) -> CheckpointError:
    return CheckpointError(f"Voice model {path.name}: {why}")


def _read(path: Path) -> Any:
    if not path.exists():
        raise _fail(path, "file not found")
    if path.is_dir():
        raise _fail(path, "is a folder, not a .pth file")
    if not zipfile.is_zipfile(path):
        # torch.save has written zip archives since torch 1.6; RVC voices are all of that kind
        raise _fail(path, "not a PyTorch checkpoint (damaged, truncated, or another kind of file)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        if "weights_only" in text or "Unsupported global" in text or "GLOBAL" in text:
            raise _fail(
                path,
                "contains Python objects other than tensors and plain containers; Mirage does not "
                "unpickle those (a .pth can run code when loaded). Re-export the voice with RVC's "
                "'export small model' (ckpt) step.",
            ) from exc
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise _fail(path, f"cannot be read ({first[:160]}); the file is damaged or truncated") from exc


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace g/v pairs by the weight they define; other entries pass through."""
    out: dict[str, torch.Tensor] = {}
    pairs: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        for suffix, part in (
            (".weight_g", "g"),
            (".weight_v", "v"),
            (".parametrizations.weight.original0", "g"),
            (".parametrizations.weight.original1", "v"),
        ):
            if key.endswith(suffix):
                pairs.setdefault(key[: -len(suffix)], {})[part] = value
                break
        else:
            out[key] = value
    for base, gv in pairs.items():
        if set(gv) != {"g", "v"}:
            raise KeyError(f"{base}: weight norm needs both g and v")
        g, v = gv["g"].float(), gv["v"].float()
        norm = v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))
        out[base + ".weight"] = g * v / norm
    return out


def _layout(raw: Any, path: Path) -> tuple[dict[str, torch.Tensor], list, str, bool, int, str]:
    if not isinstance(raw, dict):
        raise _fail(
            path, f"holds a {type(raw).__name__}, not an RVC voice (a dict with 'weight' and 'config')"
        )
    if "weight" not in raw or "config" not in raw:
        if "model" in raw or "net_g" in raw or "optimizer" in raw:
            raise _fail(
                path,
                "is an RVC training checkpoint (G_*.pth/D_*.pth), not a voice; use the small voice "
                "file RVC writes to assets/weights (or its 'export small model' step).",
            )
        raise _fail(path, f"is not an RVC voice: keys {sorted(map(str, raw))[:6]} lack 'weight' and 'config'")
    weight, config = raw["weight"], raw["config"]
    if not isinstance(weight, dict) or not all(isinstance(v, torch.Tensor) for v in weight.values()):
        raise _fail(path, "'weight' is not a state dict of tensors")
    if not isinstance(config, (list, tuple)) or len(config) != SynthConfig.FIELDS:
        n = len(config) if isinstance(config, (list, tuple)) else type(config).__name__
        raise _fail(path, f"'config' should list {SynthConfig.FIELDS} hyper-parameters, found {n}")
    version = raw.get("version", "v1")  # voices trained before v2 existed carry no version
    if version not in VERSIONS:
        raise _fail(
            path,
            f"unsupported RVC version {version!r}; Mirage runs v1 and v2 voices "
            "(other forks' formats need their own code)",
        )
    f0 = raw.get("f0", 1)
    if f0 not in (0, 1, True, False):
        raise _fail(path, f"'f0' must be 0 or 1, found {f0!r}")
    info = str(raw.get("info", ""))
    sr_name = raw.get("sr")
    return weight, list(config), version, bool(f0), SR_NAMES.get(str(sr_name), 0), info


def load_voice(path: str | Path, device: str = "cpu") -> VoiceModel:
    """Load and check a voice; raises CheckpointError with a user-facing message."""
    path = Path(path)
    weight, config, version, use_f0, sr_named, info = _layout(_read(path), path)
    try:
        cfg = SynthConfig.from_list(config)
    except (TypeError, ValueError) as exc:
        raise _fail(path, f"its 'config' has a value of the wrong kind ({exc})") from exc
    if sr_named and sr_named != cfg.sr:
        raise _fail(path, f"says sr {sr_named} Hz but its config says {cfg.sr} Hz; the file is inconsistent")
    if cfg.sr % 100 or cfg.hop * 100 != cfg.sr:
        raise _fail(
            path,
            f"its upsampling {list(cfg.upsample_rates)} gives {cfg.hop} samples per frame at {cfg.sr} Hz; "
            "RVC voices run at 100 frames/s",
        )
    try:
        state = fold_weight_norm({k: v for k, v in weight.items() if not k.startswith("enc_q.")})
    except KeyError as exc:
        raise _fail(path, f"damaged weights ({exc.args[0]})") from None
    emb_g = state.get("emb_g.weight")
    phone = state.get("enc_p.emb_phone.weight")
    if emb_g is None or phone is None or emb_g.dim() != 2 or phone.dim() != 2:
        raise _fail(path, "lacks the speaker table or content projection (emb_g / enc_p.emb_phone)")
    content_dim = int(phone.shape[1])
    if content_dim != VERSIONS[version]:
        other = next((v for v, d in VERSIONS.items() if d == content_dim), None)
        hint = f" (that is {other}'s size: the 'version' field is wrong)" if other else ""
        raise _fail(
            path,
            f"is marked {version} ({VERSIONS[version]}-d content) but its weights take {content_dim}-d{hint}",
        )
    has_pitch = "enc_p.emb_pitch.weight" in state
    if has_pitch != use_f0:
        raise _fail(
            path,
            f"says f0={int(use_f0)} but its weights {'have' if has_pitch else 'lack'} the pitch embedding",
        )
    n_speakers = int(emb_g.shape[0])
    try:
        synth = Synthesizer(cfg, content_dim, use_f0, n_speakers)
    except Exception as exc:
        raise _fail(path, f"its config does not describe a buildable model ({exc})") from exc
    own = synth.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or extra or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {', '.join(extra[:3])})")
        if wrong:
            k = wrong[0]
            shapes = f"{tuple(state[k].shape)} vs {tuple(own[k].shape)}"
            parts.append(f"{len(wrong)} of the wrong shape (e.g. {k}: {shapes})")
        raise _fail(path, "weights do not match its config: " + "; ".join(parts))
    synth.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    synth.eval().to(device)
    return VoiceModel(synth, version, use_f0, cfg.sr, n_speakers, info, path)


def checkpoint_dict(synth: Synthesizer, version: str, info: str = "", half: bool = True) -> dict[str, Any]:
    """The dict RVC writes for a voice: weight-norm pairs, fp16, no enc_q (for tests and benchmarks)."""
    weight: dict[str, torch.Tensor] = {}
    normed = {name for name, _ in synth.named_modules() if _WEIGHT_NORMED.match(name)}
    for key, value in synth.state_dict().items():
        base, _, leaf = key.rpartition(".")
        value = value.detach().float()
        if leaf == "weight" and base in normed:
            g = value.flatten(1).norm(dim=1).view(-1, *([1] * (value.dim() - 1)))
            weight[base + ".weight_g"] = g
            weight[base + ".weight_v"] = value.clone()
        else:
            weight[key] = value
    if half:
        weight = {k: v.half() for k, v in weight.items()}
    cfg = synth.cfg.to_list()
    cfg[15] = synth.emb_g.num_embeddings
    sr_name = {v: k for k, v in SR_NAMES.items()}.get(synth.cfg.sr, str(synth.cfg.sr))
    return {
        "weight": weight,
        "config": cfg,
        "info": info,
        "sr": sr_name,
        "f0": int(synth.use_f0),
        "version": version,
    }


def small_config(sr: str = "40k") -> list:
    """The released architecture at a fraction of its width (same modules and names), for fast tests."""
    cfg = list(REFERENCE_CONFIGS[sr])
    cfg[2:8] = [16, 16, 32, 2, 2, 3]  # inter, hidden, filter, heads, layers, kernel
    cfg[10:12] = [[3], [[1, 3, 5]]]  # one resblock kind per stage
    cfg[13] = 32  # upsample_initial_channel
    cfg[16] = 16  # gin_channels
    return cfg


def random_voice(
    version: str = "v2",
    sr: str = "40k",
    use_f0: bool = True,
    n_speakers: int = 1,
    seed: int = 0,
    config: list | None = None,
) -> Synthesizer:
    """A synthesizer of the real architecture (and, without ``config``, size) with random weights."""
    torch.manual_seed(seed)
    cfg = SynthConfig.from_list(config or REFERENCE_CONFIGS[sr])
    synth = Synthesizer(cfg, VERSIONS[version], use_f0, n_speakers)
    with torch.no_grad():
        for name, p in synth.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.dim() >= 2:
                # small, fan-in scaled: keeps a random network's output in [-1, 1] without clipping
                fan_in = p[0].numel() if p.dim() > 2 else p.shape[1]
                p.normal_(0.0, 0.5 / max(1.0, fan_in) ** 0.5)
    return synth.eval()


def save_random_voice(path: str | Path, version: str = "v2", sr: str = "40k", use_f0: bool = True,
                      n_speakers: int = 1, seed: int = 0, config: list | None = None) -> Path:  # fmt: skip
    path = Path(path)
    synth = random_voice(version, sr, use_f0, n_speakers, seed, config)
    torch.save(checkpoint_dict(synth, version, info="Mirage stand-in (random weights)"), path)
    return path
