"""RVC voices: the real .pth layout through the loader, stand-in ContentVec, real FCPE pitch, streaming.

Weights are random (no trained voice can ship), with the released architecture: ``small_config`` keeps
every module and parameter name at a fraction of the width so the streaming tests run in seconds;
one test writes the full-size v2 40 kHz layout (~55 MB, as released voices are).
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mirage_desktop.testmodels.contentvec import INPUT, OUTPUT, build_contentvec  # noqa: E402
from mirage_desktop.voice.converters.rvc.checkpoint import (  # noqa: E402
    REFERENCE_CONFIGS,
    CheckpointError,
    checkpoint_dict,
    load_voice,
    random_voice,
    save_random_voice,
    small_config,
)
from mirage_desktop.voice.converters.rvc.content import ContentEncoder, hubert_frames  # noqa: E402
from mirage_desktop.voice.converters.rvc.converter import RVCConverter  # noqa: E402
from mirage_desktop.voice.converters.rvc.pitch import FcpePitch, coarse_pitch  # noqa: E402
from mirage_desktop.voice.errors import VoiceError  # noqa: E402
from mirage_desktop.voice.pipeline import BlockPipeline, PipelineConfig, process_offline  # noqa: E402

JFK = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "audio" / "jfk.flac"


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("rvc")


@pytest.fixture(scope="module")
def content768(work):
    return build_contentvec(work / "vec-768-layer-12.onnx", 768)


@pytest.fixture(scope="module")
def content256(work):
    return build_contentvec(work / "vec-256-layer-9.onnx", 256)


@pytest.fixture(scope="module")
def fcpe():
    return FcpePitch()


def _voice(work: Path, version: str, use_f0: bool, sr: str = "40k", seed: int = 0) -> Path:
    path = work / f"{version}_{sr}_{int(use_f0)}_{seed}.pth"
    if not path.exists():
        save_random_voice(path, version, sr, use_f0, seed=seed, config=small_config(sr))
    return path


# --- the checkpoint layout ----------------------------------------------------------------------------
@pytest.mark.parametrize(("version", "use_f0"), [("v2", True), ("v2", False), ("v1", True), ("v1", False)])
def test_checkpoint_round_trip(work, version, use_f0):
    synth = random_voice(version, "40k", use_f0, n_speakers=3, seed=1, config=small_config("40k"))
    raw = checkpoint_dict(synth, version, info="test")
    path = work / f"rt_{version}_{use_f0}.pth"
    torch.save(raw, path)

    # the file is the layout RVC writes
    stored = torch.load(path, weights_only=True)
    assert set(stored) == {"weight", "config", "info", "sr", "f0", "version"}
    assert stored["sr"] == "40k" and stored["f0"] == int(use_f0) and stored["version"] == version
    assert len(stored["config"]) == 18 and stored["config"][-1] == 40000
    weights = stored["weight"]
    assert not any(k.startswith("enc_q.") for k in weights)
    assert all(v.dtype == torch.float16 for v in weights.values())
    assert "dec.ups.0.weight_g" in weights and "dec.ups.0.weight_v" in weights
    assert "flow.flows.0.enc.in_layers.0.weight_v" in weights
    assert weights["enc_p.emb_phone.weight"].shape[1] == (768 if version == "v2" else 256)
    assert ("enc_p.emb_pitch.weight" in weights) == use_f0
    assert ("dec.m_source.l_linear.weight" in weights) == use_f0

    voice = load_voice(path)
    assert (voice.version, voice.use_f0, voice.sr, voice.n_speakers) == (version, use_f0, 40000, 3)
    # every weight survives (to fp16 precision, as the released files store them)
    loaded = voice.synth.state_dict()
    for key, value in synth.state_dict().items():
        assert torch.allclose(loaded[key], value.half().float(), rtol=2e-3, atol=2e-4), key

    t, skip, length = 40, 30, 10
    phone = torch.randn(1, t, voice.content_dim)
    noise = torch.randn(1, voice.synth.cfg.inter_channels, t)
    kwargs = {"latent_noise": noise, "sid": 2, "skip_head": skip, "return_length": length}
    if use_f0:
        f0 = torch.full((1, t), 160.0)
        kwargs |= {
            "pitch": torch.from_numpy(coarse_pitch(f0.numpy())),
            "pitchf": f0,
            "phase0": torch.zeros(1, dtype=torch.float64),
            "source_noise": torch.zeros(1, length * 400),
        }
    ours = synth.infer(phone, **kwargs)
    theirs = voice.synth.infer(phone, **kwargs)
    assert ours.shape == theirs.shape == (1, length * 400)  # only the new frames are decoded
    assert torch.isfinite(theirs).all()
    assert float((ours - theirs).abs().max()) < 0.05 * float(ours.abs().max()) + 1e-5


def test_full_size_v2_voice_matches_released_size(work):
    path = save_random_voice(work / "full_v2_40k.pth", "v2", "40k", True)
    # released v2 40 kHz voices are ~55 MB: 27.4 M fp16 parameters
    assert 50e6 < path.stat().st_size < 60e6
    voice = load_voice(path)
    assert sum(p.numel() for p in voice.synth.parameters()) == pytest.approx(27.4e6, rel=0.01)
    assert voice.synth.cfg.to_list()[:15] == REFERENCE_CONFIGS["40k"][:15]


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


def _save_raw(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("truncated", "damaged"),
        ("not_zip", "not a PyTorch checkpoint"),
        ("code", "does not unpickle"),
        ("v3", "unsupported RVC version 'v3'"),
        ("wrong_dim", "is marked v1 (256-d content) but its weights take 768-d"),
        ("no_pitch_weights", "says f0=1 but its weights lack the pitch embedding"),
        ("missing_key", "weights do not match its config: 1 missing"),
        ("wrong_shape", "of the wrong shape"),
        ("config_short", "should list 18 hyper-parameters, found 17"),
        ("training", "training checkpoint"),
        ("sr_mismatch", "says sr 48000 Hz but its config says 40000 Hz"),
    ],
)
def test_bad_checkpoints_have_clear_messages(work, case, needle):
    good = torch.load(_voice(work, "v2", True), weights_only=True)
    path = work / f"bad_{case}.pth"
    if case == "truncated":
        data = _voice(work, "v2", True).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "not_zip":
        path.write_bytes(b"\x00" * 1000)
    elif case == "code":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:  # a torch-style archive whose pickle calls print()
            z.writestr("archive/data.pkl", pickle.dumps({"weight": _Evil()}, protocol=2))
            z.writestr("archive/version", "3\n")
        path.write_bytes(buf.getvalue())
    else:
        raw = dict(good)
        w = dict(raw["weight"])
        if case == "v3":
            raw["version"] = "v3"
        elif case == "wrong_dim":
            raw["version"] = "v1"
        elif case == "no_pitch_weights":
            del w["enc_p.emb_pitch.weight"]
        elif case == "missing_key":
            del w["dec.conv_post.weight"]
        elif case == "wrong_shape":
            w["dec.conv_pre.weight"] = w["dec.conv_pre.weight"][:, :8]
        elif case == "config_short":
            raw["config"] = raw["config"][:17]
        elif case == "training":
            raw = {"model": w, "iteration": 10, "optimizer": {}}
        elif case == "sr_mismatch":
            raw["sr"] = "48k"
        if "weight" in raw:
            raw["weight"] = w
        _save_raw(path, raw)
    with pytest.raises(CheckpointError) as err:
        load_voice(path)
    assert needle in str(err.value)
    assert str(err.value).startswith(f"Voice model {path.name}:")


# --- content model -----------------------------------------------------------------------------------
def test_standin_contentvec_has_the_real_contract(content768, content256):
    import onnxruntime as ort

    for path, dim in ((content768, 768), (content256, 256)):
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
        assert (inp.name, inp.type, inp.shape[:2]) == (INPUT, "tensor(float)", [1, 1])
        assert (out.name, out.type, out.shape[0], out.shape[2]) == (OUTPUT, "tensor(float)", 1, dim)
        enc = ContentEncoder(path, dim)
        for n in (400, 4000, 16000, 16123):
            assert enc(np.zeros(n, np.float32) + 0.1).shape == (hubert_frames(n), dim)
    assert hubert_frames(16000) == 49  # HuBERT: 50 frames/s, receptive field 400, stride 320


def test_content_model_of_the_wrong_size_is_refused(content256):
    with pytest.raises(VoiceError, match="gives 256-d features but this voice needs 768-d"):
        ContentEncoder(content256, 768)


# --- pitch --------------------------------------------------------------------------------------------
def test_coarse_pitch_matches_rvc_quantisation():
    f0 = np.array([0.0, 30.0, 50.0, 100.0, 440.0, 1100.0, 3000.0])
    coarse = coarse_pitch(f0)
    assert coarse.dtype == np.int64
    assert coarse[0] == 1 and coarse[1] == 1 and coarse[2] == 1  # unvoiced and at/below 50 Hz
    assert coarse[5] == 255 and coarse[6] == 255
    assert list(coarse) == sorted(coarse)
    mel = lambda f: 1127 * np.log(1 + f / 700)  # noqa: E731
    expected = (mel(440.0) - mel(50.0)) * 254 / (mel(1100.0) - mel(50.0)) + 1
    assert coarse[4] == round(expected)


def test_fcpe_real_weights_track_a_tone_and_speech(fcpe):
    import soundfile as sf

    sr = 16000
    t = np.arange(sr) / sr
    f0 = fcpe((0.3 * np.sin(2 * np.pi * 150 * t)).astype(np.float32), 100)
    assert f0.shape == (100,)
    assert np.median(f0[10:90]) == pytest.approx(150, abs=3)
    if not JFK.exists():
        pytest.skip("jfk.flac not here")
    from scipy.signal import resample_poly

    audio, rate = sf.read(JFK, dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    audio = resample_poly(audio, 16000, rate).astype(np.float32)
    speech = fcpe(audio[: 5 * sr], 500)
    voiced = speech[speech > 0]
    assert len(voiced) > 100  # a speaking man: voiced much of the time, median F0 within 80-250 Hz
    assert 80 < np.median(voiced) < 250


# --- index --------------------------------------------------------------------------------------------
def test_index_blending(work):
    pytest.importorskip("faiss")
    from mirage_desktop.voice.converters.rvc.index import FeatureIndex, write_index

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((2000, 768)).astype(np.float32)
    path = write_index(work / "voice.index", vectors)
    index = FeatureIndex(path, 768)
    q = vectors[:5] + 0.001
    assert np.allclose(index.blend(q, 1.0), vectors[:5], atol=0.01)  # its own vector dominates
    assert np.array_equal(index.blend(q, 0.0), q)
    half = index.blend(q, 0.5)
    assert np.allclose(half, 0.5 * q + 0.5 * index.blend(q, 1.0), atol=1e-4)
    with pytest.raises(VoiceError, match="holds 768-d features but the voice uses 256-d"):
        FeatureIndex(path, 256)


# --- streaming ----------------------------------------------------------------------------------------
def _sweep(sr: int, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    f = 110 + (220 - 110) * t / seconds  # 110 -> 220 Hz
    return (0.3 * np.sin(2 * np.pi * np.cumsum(f) / sr)).astype(np.float32)


def _converter(work, content, fcpe, version="v2", use_f0=True, seed=0, **kw) -> RVCConverter:
    return RVCConverter(
        model=_voice(work, version, use_f0, seed=seed),
        content_model=content,
        device="cpu",
        pitch_estimator=fcpe if use_f0 else None,
        **kw,
    )


def test_streaming_sweep_has_no_steps_at_block_joins(work, content768, fcpe):
    conv = _converter(work, content768, fcpe)
    sr_dev = 48000
    pipe = BlockPipeline(conv, sr_dev, PipelineConfig(block_ms=100, gate_db=None))
    y = process_offline(pipe, _sweep(sr_dev, 2.0))
    assert np.isfinite(y).all() and np.abs(y).max() > 0
    block = pipe.block_dev
    warm = int(0.6 * sr_dev)  # the first blocks have no left context yet
    d = np.abs(np.diff(y[warm:].astype(np.float64)))
    joins = np.arange(block, len(y) - warm - 2, block)
    near = np.unique(np.concatenate([joins + k for k in range(-2, 3)]))
    inside = np.setdiff1d(np.arange(len(d)), near)
    # A click is a sample-to-sample step larger than any the signal makes by itself. The output's own
    # largest step (within blocks) is the bound: a join may not exceed it.
    assert d[near].max() <= d[inside].max(), (d[near].max(), d[inside].max())
    # and the level does not jump across joins: RMS of the 5 ms either side within 6 dB
    win = int(0.005 * sr_dev)
    z = y[warm:]
    for j in joins[:-1]:
        a = np.sqrt(np.mean(z[j - win : j] ** 2)) + 1e-9
        b = np.sqrt(np.mean(z[j : j + win] ** 2)) + 1e-9
        assert abs(20 * np.log10(a / b)) < 6.0


def test_cost_does_not_grow_with_context(work, content768, fcpe):
    """Each block analyses only its new frames (+ the few unsettled ones), however long the window."""
    for context in (0.4, 1.5):
        conv = _converter(work, content768, fcpe)
        conv.context_s = context
        pipe = BlockPipeline(conv, 40000, PipelineConfig(block_ms=100, gate_db=None))
        process_offline(pipe, _sweep(40000, 2.5))
        c = conv.counters()
        assert c["resets"] == 1  # only the very first window
        per_call = (c["frames_analysed"] - pipe.window_length // 400) / (c["calls"] - 1)
        assert per_call <= 10 + 3 + 1  # 10 new frames per 100 ms block + 3 unsettled (+ rounding)
        assert c["frames_decoded"] / c["calls"] <= 10 + 3  # block + crossfade + search, in frames


def test_skipped_windows_are_followed_not_reset(work, content768, fcpe):
    conv = _converter(work, content768, fcpe)
    pipe = BlockPipeline(conv, 40000, PipelineConfig(block_ms=100, gate_db=None))
    x = _sweep(40000, 2.0)
    for i, start in enumerate(range(0, len(x) - pipe.block_dev, pipe.block_dev)):
        window = pipe.push(x[start : start + pipe.block_dev])
        if i % 3 != 1:  # the engine skips a window while the converter is busy
            pipe.finish(window, conv.convert(window))
        if i == 9:
            pipe.set_block(pipe.block_dev * 2)  # and changes the block size when overloaded
    assert conv.counters()["resets"] == 1


def test_no_f0_voice_streams(work, content256):
    conv = _converter(work, content256, None, version="v1", use_f0=False)
    assert conv.describe()["pitch"] is None
    pipe = BlockPipeline(conv, 48000, PipelineConfig(block_ms=100, gate_db=None))
    y = process_offline(pipe, _sweep(48000, 1.0))
    assert np.isfinite(y).all() and np.abs(y[24000:]).max() > 0


def test_hot_swap_and_failed_load_keep_the_stream(work, content768, fcpe, tmp_path):
    conv = _converter(work, content768, fcpe, semitones=3.0)
    pipe = BlockPipeline(conv, 40000, PipelineConfig(block_ms=100, gate_db=None))
    x = _sweep(40000, 3.0)
    chunk = len(x) // 3
    process_offline(pipe, x[:chunk])
    first = conv.voice
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(VoiceError, match=r"broken\.pth"):
        conv.load(bad, content_model=content768)
    assert conv.voice is first  # the failed load changed nothing
    with pytest.raises(VoiceError, match="48000 Hz and the stream at 40000 Hz"):
        conv.load(_voice(work, "v2", True, sr="48k"), content_model=content768)
    assert conv.voice is first
    y1 = process_offline(pipe, x[chunk : 2 * chunk])
    assert np.abs(y1).max() > 0
    conv.load(_voice(work, "v2", True, seed=7), content_model=content768)  # another voice, same rate
    assert conv.voice is not first and conv.params.semitones == 3.0
    y2 = process_offline(pipe, x[2 * chunk :])
    assert np.isfinite(y2).all() and np.abs(y2[8000:]).max() > 0


def test_parameters_are_checked(work, content768, fcpe):
    with pytest.raises(VoiceError, match="index rate"):
        _converter(work, content768, fcpe, index_rate=1.5)
    with pytest.raises(VoiceError, match="protect"):
        _converter(work, content768, fcpe, protect=0.7)
    conv = _converter(work, content768, fcpe)
    with pytest.raises(VoiceError, match="semitones"):
        conv.set_params(semitones=float("nan"))
    conv.set_params(semitones=-5, index_rate=0.2)
    assert conv.params.semitones == -5 and conv.params.index_rate == 0.2


# --- wiring -------------------------------------------------------------------------------------------
def test_choosing_another_converter_does_not_load_torch():
    code = (
        "import sys; import mirage_desktop.voice.converters as c; import mirage_desktop.cli; "
        "assert 'rvc' in c.CONVERTERS; c.create_converter('pitch'); "
        "print('torch' in sys.modules, 'torchfcpe' in sys.modules, 'faiss' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "False"]


def test_cli_validates_rvc_arguments(tmp_path, capsys):
    from mirage_desktop.cli import build_parser

    parser = build_parser()
    voice = tmp_path / "voice.pth"
    voice.write_bytes(b"x")
    ok = parser.parse_args(["voice", "--converter", "rvc", "--model", str(voice), "--semitones", "0"])
    assert ok.model == str(voice) and ok.converter == "rvc"
    for argv, needle in (
        (["--model", str(tmp_path / "nope.pth")], "no such voice model file"),
        (["--model", str(tmp_path)], "is a folder"),
        (["--index", str(voice)], "not a voice index file"),
        (["--index-rate", "1.5"], "out of range"),
        (["--protect", "0.9"], "out of range"),
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(["voice", "--converter", "rvc", *argv])
        assert needle in capsys.readouterr().err


def test_cli_rvc_without_a_model_says_so(tmp_path):
    env = {"MIRAGE_CONFIG_DIR": str(tmp_path), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "mirage_desktop.cli", "voice", "--converter", "rvc", "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 2
    assert "needs a voice file: --model VOICE.pth" in out.stderr


def test_rmvpe_decoding_with_a_standin_of_its_contract(work):
    """RMVPE's contract: log-mel [1, 128, T] in, salience [1, T, 360] out (20-cent bins from 1997.38
    cents). A stand-in that always peaks at bin 100 must decode to 10·2^((20·100 + 1997.38)/1200) Hz."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from mirage_desktop.voice.converters.rvc.pitch import RmvpePitch

    onehot = np.zeros(360, np.float32)
    onehot[99:102] = [0.5, 1.0, 0.5]
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["mel"], ["m"], axes=[1], keepdims=1),  # [1, 1, T]
            helper.make_node("Transpose", ["m"], ["mt"], perm=[0, 2, 1]),  # [1, T, 1]
            helper.make_node("Mul", ["mt", "zero"], ["z"]),
            helper.make_node("Add", ["z", "onehot"], ["hidden"]),  # [1, T, 360]
        ],
        "rmvpe_standin",
        [helper.make_tensor_value_info("mel", TensorProto.FLOAT, [1, 128, "T"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, [1, "T", 360])],
        [numpy_helper.from_array(np.zeros(1, np.float32), "zero"), numpy_helper.from_array(onehot, "onehot")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = work / "rmvpe.onnx"
    onnx.save(model, path)
    rmvpe = RmvpePitch(path)
    f0 = rmvpe(np.zeros(16000, np.float32), 100)
    assert f0.shape == (100,)
    assert np.allclose(f0, 10 * 2 ** ((20 * 100 + 1997.3794084376191) / 1200), rtol=1e-4)


def test_cli_converts_a_file_with_an_rvc_voice(work, tmp_path):
    """`mirage-cli voice --input-file IN --output-file OUT --converter rvc --model VOICE.pth`: try a
    voice before a call, on the same code path as live."""
    import soundfile as sf

    models = tmp_path / "models"
    models.mkdir()
    build_contentvec(models / "vec-768-layer-12.onnx", 768)
    src = tmp_path / "in.wav"
    sf.write(src, _sweep(48000, 1.5), 48000)
    out = tmp_path / "out.wav"
    env = {
        "MIRAGE_CONFIG_DIR": str(tmp_path / "cfg"),
        "MIRAGE_MODELS_DIR": str(models),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    cmd = [sys.executable, "-m", "mirage_desktop.cli", "voice", "--input-file", str(src), "--output-file"]
    cmd += [str(out), "--converter", "rvc", "--model", str(_voice(work, "v2", True)), "--semitones", "2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 48000 and abs(len(audio) - int(1.5 * 48000)) <= 48  # same length as the input
    assert np.isfinite(audio).all() and np.abs(audio[24000:]).max() > 0


def test_digital_silence_does_not_stall_the_timeline(work, content768, fcpe):
    """A muted mic delivers exact zeros, which match at every offset: the timeline must still move by
    about a block per call (not by one sample), and sound afterwards pins it exactly again."""
    conv = _converter(work, content768, fcpe)
    pipe = BlockPipeline(conv, 40000, PipelineConfig(block_ms=100, gate_db=None))
    x = np.concatenate([np.zeros(40000, np.float32), _sweep(40000, 1.0)])
    positions = []
    for start in range(0, len(x) - pipe.block_dev + 1, pipe.block_dev):
        window = pipe.push(x[start : start + pipe.block_dev])
        pipe.finish(window, conv.convert(window))
        positions.append(conv._pos)
    steps = np.diff(positions)
    assert (steps >= pipe.block_dev).all() and (steps <= pipe.block_dev + 0.02 * 40000).all(), steps
    assert (steps[-5:] == pipe.block_dev).all()  # exact again once there is sound
    assert conv.counters()["resets"] == 1


def test_index_and_protect_in_the_stream(work, content768, fcpe):
    """With an index the new frames are blended (index stage timed), and protect keeps unvoiced
    frames closer to the raw features; the stream stays finite and continuous."""
    pytest.importorskip("faiss")
    from mirage_desktop.voice.converters.rvc.index import write_index

    vectors = np.random.default_rng(1).standard_normal((500, 768)).astype(np.float32)
    index = write_index(work / "stream.index", vectors, lists=4)
    outs = {}
    for protect in (0.5, 0.0):
        conv = _converter(work, content768, fcpe, index=index, index_rate=0.75, protect=protect)
        assert conv.describe()["index"] == "stream.index"
        pipe = BlockPipeline(conv, 40000, PipelineConfig(block_ms=100, gate_db=None))
        outs[protect] = process_offline(
            pipe, np.concatenate([_sweep(40000, 0.8), np.zeros(16000, np.float32)])
        )
        assert "index_ms" in conv.counters()
        assert np.isfinite(outs[protect]).all()
    assert not np.array_equal(outs[0.5], outs[0.0])  # protect changed the unvoiced (silent) part
