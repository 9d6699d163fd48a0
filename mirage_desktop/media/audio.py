"""The sound of a media file, on its way into an output file beside the processed picture.

Both tracks keep the file's own timeline: a sample (or packet) that played at time t in the input
plays at t in the output, and the picture keeps its timestamps too (``Frame.pts``), so sound and
picture stay as aligned as they were, over the whole file.

- ``CopiedAudio`` (tracks.py) remuxes the compressed packets (stream copy): bit-exact, no
  generation loss, no CPU.
- ``EncodedAudio`` (encoded.py) decodes to float32 (any sample format, samples.py), mixes every
  channel down to stereo or mono (channels.py), resamples to a rate the encoder takes
  (samples.py), hands the blocks to an optional ``AudioHook`` (a voice converter, say) and encodes
  again (AAC by default). It also loops a file for live recordings, keeping the sound under the
  looping picture.
- ``LiveAudio`` (live.py) places sound pushed during a live recording by its capture time.

Which audio stream is used (streams.py): the one asked for, else the default-marked one, else the
first; ``AudioTrack.note`` says which and why when there were several.

The recorder drives a track from its own thread: ``write_until(t)`` after each video frame keeps
the two streams interleaved, ``finish()`` writes the rest (or stops at the picture's end).
"""

from __future__ import annotations

from pathlib import Path

from mirage_desktop.media.encoded import AudioHook, EncodedAudio
from mirage_desktop.media.live import LiveAudio
from mirage_desktop.media.streams import AudioInfo, NoSuchAudioStream, probe_audio, video_span
from mirage_desktop.media.tracks import LEAD_S, AudioTrack, CopiedAudio

#: output containers, the audio codecs each takes as they are (stream copy), and what to encode otherwise
COPYABLE = {
    ".mp4": {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"},
    ".m4v": {"aac", "mp3", "alac", "ac3", "eac3"},
    ".mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le", "pcm_s24le"},
    ".mkv": {"aac", "mp3", "ac3", "eac3", "opus", "vorbis", "flac", "pcm_s16le", "pcm_s24le"},
    ".avi": set(),  # never copied: see NO_START_OFFSET
}
ENCODER = {".avi": "pcm_s16le"}  # AAC everywhere else
#: containers that start every stream at 0 (no edit lists): the sound is written from the picture's start
NO_START_OFFSET = {".avi"}

__all__ = [
    "COPYABLE",
    "ENCODER",
    "LEAD_S",
    "NO_START_OFFSET",
    "AudioHook",
    "AudioInfo",
    "AudioTrack",
    "CopiedAudio",
    "EncodedAudio",
    "LiveAudio",
    "NoSuchAudioStream",
    "audio_for",
    "probe_audio",
    "video_span",
]


def audio_for(
    path: str | Path,
    out_suffix: str,
    *,
    hook: AudioHook | None = None,
    loop: bool = False,
    stream: int | None = None,
) -> AudioTrack | None:
    """The sound track to write beside the picture of ``path``: a stream copy when the output takes
    the input's codec as it is and nothing changes it, else encoded. None when the file has no sound.

    ``stream``: which audio stream (1-based among the file's audio streams); None picks the
    default-marked one, else the first. Raises NoSuchAudioStream for one the file does not have."""
    info = probe_audio(path, stream)
    if info is None or info.sample_rate <= 0 or not info.has_samples:
        return None
    suffix = out_suffix.lower()
    codec = ENCODER.get(suffix, "aac")
    span = video_span(path) if loop or suffix in NO_START_OFFSET else None
    if (loop or suffix in NO_START_OFFSET) and span is None:
        return None
    if suffix in NO_START_OFFSET:  # everything starts at 0 there: the sound from where the picture starts
        track: AudioTrack = EncodedAudio(
            path, info, codec=codec, hook=hook, loop=span if loop else None, zero_at=span[0]
        )
    elif hook is None and not loop and info.codec in COPYABLE.get(suffix, set()):
        track = CopiedAudio(path, info.index)
        track.note = info.note
    else:
        track = EncodedAudio(path, info, codec=codec, hook=hook, loop=span)
    return track
