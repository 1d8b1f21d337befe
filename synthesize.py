"""Speak a text file line by line: `python synthesize.py -f lines.txt -o out/`.

Each non-empty line becomes one wav (`out/0001.wav`, numbered by line, or `out/<id>.wav` for
`id|text` and `id|speaker|text` lines), plus `out/manifest.tsv`. Without --acoustic/--vocoder
the checkpoints that the recipe wrote last are used (exp/grad_tts/last.pt, exp/diffwave/last.pt);
with --voice, an exported ONNX voice (gradwave-export) speaks on --engine instead.
"""
from __future__ import annotations

import argparse
import csv
import logging
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from common.audio import pcm16, save_wav
from common.autotune import digest
from common.checkpoint import CheckpointError
from common.precision import PRECISIONS, choose_precision
from common.griffin_lim import GRIFFIN_LIM, griffin_lim
from common.mel import MelConfig, MelSpectrogram
from common.progress import progress_bar
from diffwave.checkpoint import load_diffwave
from diffwave.checkpoint import mel_config as vocoder_mel_config
from diffwave.inference import resolve_precision, vocode
from grad_tts.checkpoint import inference_config, load_grad_tts, mel_config, text_config
from grad_tts.samplers import SAMPLERS
from text import TextProcessor
from voice.engines import ENGINES
from voice.files import VoiceError

log = logging.getLogger("synthesize")

DEFAULT_ACOUSTIC = Path("exp/grad_tts/last.pt")
DEFAULT_VOCODER = Path("exp/diffwave/last.pt")
PROBE_SENTENCE = "The quick brown fox jumps over the lazy dog."  # times the decoder's precisions
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


class SynthesisError(RuntimeError):
    pass


@dataclass
class Line:
    number: int  # 1-based line number in the file
    uid: str
    text: str
    speaker: Optional[str] = None


def parse_lines(path: Path) -> tuple[list[Line], int, dict[int, str]]:
    """Non-empty lines of `path` as `Line`s, the number of blank lines skipped, and the lines that
    are not UTF-8 text (line number -> why), which the caller reports while it speaks the others."""
    lines, blank, undecodable = [], 0, {}
    for number, raw_bytes in enumerate(path.read_bytes().splitlines(), 1):
        try:
            raw = raw_bytes.decode("utf-8")
        except UnicodeDecodeError as err:
            undecodable[number] = (f"not UTF-8 text (byte 0x{raw_bytes[err.start]:02x} at column {err.start + 1}); "
                                   "save the file as UTF-8, e.g. iconv -f latin1 -t utf-8")
            continue
        if not raw.strip():
            blank += 1
            continue
        parts = raw.split("|")
        if len(parts) == 2:
            lines.append(Line(number, parts[0].strip(), parts[1]))
        elif len(parts) == 3:
            lines.append(Line(number, parts[0].strip(), parts[2], parts[1].strip()))
        else:
            lines.append(Line(number, f"{number:04d}", raw))
    return lines, blank, undecodable


def split_long(text: str, max_chars: int) -> list[str]:
    """Sentences of `text`, merged while they stay under `max_chars`."""
    if len(text) <= max_chars:
        return [text]
    chunks: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        if chunks and len(chunks[-1]) + 1 + len(sentence) <= max_chars:
            chunks[-1] += " " + sentence
        else:
            chunks.append(sentence)
    return chunks


@dataclass
class Spoken:
    """The acoustic model's answer for one text: its mel and the frames given to each input id."""
    mel: torch.Tensor  # (n_mels, frames)
    durations: torch.Tensor  # (ids,)
    words: list[tuple[str, int, int]]  # the text's words as (word, first id, end id)

    def word_times(self, seconds_per_frame: float, offset: float = 0.0) -> list[dict]:
        """Start and end of every word in seconds (from the durations), shifted by `offset`."""
        edges = torch.cat([torch.zeros(1), self.durations.float().cpu().cumsum(0)])
        return [{"word": word, "start": round(offset + float(edges[first]) * seconds_per_frame, 3),
                 "end": round(offset + float(edges[end]) * seconds_per_frame, 3)}
                for word, first, end in self.words]


class Synthesizer:
    """Holds a Grad-TTS model and a vocoder (DiffWave checkpoint or Griffin-Lim). Sampling settings
    left at None are the acoustic checkpoint's own (its `inference` config)."""

    def __init__(self, acoustic: str | Path, vocoder: str | Path = GRIFFIN_LIM, device: str = "cpu",
                 timesteps: Optional[int] = None, temperature: Optional[float] = None,
                 length_scale: Optional[float] = None,
                 vocoder_fast: bool = True, vocoder_steps: Optional[int] = None, pause: float = 0.25,
                 sampler: Optional[str] = None, vocoder_precision: str = "auto", acoustic_precision: str = "fp32",
                 compile_vocoder: bool = False):
        self.device = torch.device(device)
        self.model, ckpt = load_grad_tts(acoustic, self.device)
        try:
            own = inference_config(ckpt)
        except ValueError as err:
            raise SynthesisError(f"{acoustic}: {err}") from None
        timesteps = own.timesteps if timesteps is None else timesteps
        temperature = own.temperature if temperature is None else temperature
        length_scale = own.length_scale if length_scale is None else length_scale
        sampler = sampler or own.sampler
        self.mel_config = mel_config(ckpt)
        self.processor = TextProcessor(text_config(ckpt))
        self.speakers = {name: i for i, name in enumerate(ckpt.get("speakers") or [])}
        self.extractor = MelSpectrogram(self.mel_config)
        self.denoised_range = self.extractor.value_range()  # bounds the ml/dpm samplers' clean-mel estimate
        if sampler not in SAMPLERS:
            raise SynthesisError(f"unknown sampler {sampler!r}; one of {', '.join(SAMPLERS)}")
        if timesteps and self.model.decoder.objective == "flow" and sampler != "euler":
            raise SynthesisError(f"{acoustic}: its decoder learnt the flow objective and samples with euler steps, "
                                 f"not {sampler}")
        self.timesteps, self.temperature, self.length_scale = timesteps, temperature, length_scale
        self.sampler = sampler
        self.vocoder_fast, self.vocoder_steps = vocoder_fast, vocoder_steps
        self.pause = pause
        self.vocoder = None
        self.vocoder_precision = "fp32"  # Griffin-Lim's
        try:
            self.acoustic_precision = self.decoder_precision(acoustic_precision, ckpt)
            if vocoder_precision not in PRECISIONS:
                raise ValueError(f"unknown precision {vocoder_precision!r}; one of {', '.join(PRECISIONS)}")
        except ValueError as err:
            raise SynthesisError(str(err)) from None
        self.description = {"acoustic": {"path": str(acoustic), "kind": "grad_tts", "config": ckpt.get("config")},
                            "vocoder": {"path": str(vocoder), "kind": GRIFFIN_LIM},
                            "mel": ckpt.get("mel"), "speakers": list(self.speakers),
                            "sampling": {"sampler": sampler, "timesteps": timesteps, "temperature": temperature,
                                         "precision": self.acoustic_precision}}
        if str(vocoder) != GRIFFIN_LIM:
            self.vocoder, vckpt = load_diffwave(vocoder, self.device)
            theirs = vocoder_mel_config(vckpt)
            if theirs is None:
                raise SynthesisError(f"{vocoder}: an unconditional DiffWave cannot vocode mels")
            differences = self.mel_config.differences(theirs)
            if differences:
                raise SynthesisError(f"the acoustic model ({acoustic}) and the vocoder ({vocoder}) use different mel "
                                     "features (acoustic != vocoder): " + "; ".join(differences))
            self.vocoder_precision = resolve_precision(vocoder_precision, self.vocoder)
            self.description["vocoder"] = {"path": str(vocoder), "kind": "diffwave", "config": vckpt.get("config"),
                                           "mel_matches_acoustic": True, "precision": self.vocoder_precision,
                                           "compiled": compile_vocoder}
            if compile_vocoder:  # inductor fuses the gates' elementwise work; any length, no recompiling
                self.vocoder.denoise = torch.compile(self.vocoder.denoise, dynamic=True)

    def decoder_precision(self, requested: str, ckpt: dict) -> str:
        """The decoder's precision: as requested, or for "auto" the faster where the CPU has native bf16
        (timed on one sentence, once per model config and CPU; fp32 when the decoder does not run)."""
        if requested == "auto" and self.timesteps == 0:
            return "fp32"
        if requested != "auto":  # checked, not timed
            return choose_precision(requested, self.device, "", None)
        name = f"the Grad-TTS decoder {digest(ckpt.get('config'))}"
        ids = torch.tensor([self.processor.encode(PROBE_SENTENCE).ids], device=self.device)
        lengths = torch.tensor([ids.shape[1]], device=self.device)
        spk = torch.zeros(1, dtype=torch.long, device=self.device) if self.speakers else None
        return choose_precision(requested, self.device, name, lambda p: self.model.synthesise(
            ids, lengths, self.timesteps, spk=spk, sampler=self.sampler, decoder_bf16=p == "bf16"))

    @property
    def sample_rate(self) -> int:
        return self.mel_config.sample_rate

    def speaker_id(self, name: Optional[str]) -> Optional[int]:
        if not self.speakers:
            return None
        if name is None:
            return 0
        if name not in self.speakers:
            raise SynthesisError(f"unknown speaker {name!r}; this model has {', '.join(self.speakers)}")
        return self.speakers[name]

    def encode(self, text: str):
        """The text's ids and words; SynthesisError when none of it can be spoken."""
        encoded = self.processor.encode(text)
        silent = {self.processor.config.blank_id, self.processor.config.symbols.index(" ")}
        if all(i in silent for i in encoded.ids):
            raise SynthesisError(f"nothing speakable in {text!r}")
        return encoded

    def acoustic(self, texts: list[str], speakers: list[Optional[int]], seeds: list[int],
                 timesteps: Optional[int] = None, temperature: Optional[float] = None,
                 length_scale: Optional[float] = None, sampler: Optional[str] = None) -> list[Spoken]:
        """Mels of several texts in one batch; each depends only on its own text, speaker and seed.
        The sampling settings default to the synthesizer's own."""
        encoded = [self.encode(t) for t in texts]
        lengths = torch.tensor([len(e.ids) for e in encoded])
        x = torch.zeros(len(texts), int(lengths.max()), dtype=torch.long)
        for k, e in enumerate(encoded):
            x[k, :len(e.ids)] = torch.tensor(e.ids)
        spk = torch.tensor(speakers, device=self.device) if self.speakers else None
        timesteps = self.timesteps if timesteps is None else timesteps
        sampler = sampler or self.sampler
        out = self.model.synthesise(x.to(self.device), lengths.to(self.device), timesteps,
                                    self.temperature if temperature is None else temperature, False,
                                    self.length_scale if length_scale is None else length_scale, spk,
                                    generators=[torch.Generator().manual_seed(s) for s in seeds],
                                    sampler=sampler, decoder_bf16=self.acoustic_precision == "bf16",
                                    denoised_range=self.denoised_range)
        if not bool(torch.isfinite(out["mel"]).all()):
            raise SynthesisError(f"the {sampler} sampler diverged at {timesteps} steps (the mel is not finite); "
                                 "use more steps or --sampler euler")
        return [Spoken(out["mel"][k, :, :int(n)], out["durations"][k, :len(e.ids)], e.words)
                for k, (n, e) in enumerate(zip(out["mel_lengths"], encoded))]

    def waveform(self, mel: torch.Tensor, seed: int) -> torch.Tensor:
        """The mel's audio; SynthesisError when it is not finite (a vocoder that diverged, a mel that
        is not finite)."""
        generator = torch.Generator().manual_seed(seed)
        if self.vocoder is None:
            audio = griffin_lim(mel.cpu(), self.extractor, generator=generator)
        else:
            audio = vocode(mel.unsqueeze(0), self.vocoder, fast=self.vocoder_fast, steps=self.vocoder_steps,
                           generator=generator, precision=self.vocoder_precision)[0].cpu()
        if not bool(torch.isfinite(audio).all()):
            raise SynthesisError(f"the vocoder's audio is not finite (the mel spans {float(mel.min()):.3g} to "
                                 f"{float(mel.max()):.3g}); a model may be untrained or diverged")
        return audio

    def silence(self) -> torch.Tensor:
        """The pause between the sentences of one line."""
        return torch.zeros(int(self.pause * self.sample_rate))

    def join(self, pieces: list[torch.Tensor]) -> torch.Tensor:
        silence = self.silence()
        out = []
        for k, piece in enumerate(pieces):
            out.extend([silence, piece] if k else [piece])
        return torch.cat(out)


class VoiceSynthesizer(Synthesizer):
    """An exported ONNX voice (gradwave-export) behind the Synthesizer's interface: onnxruntime or OpenVINO
    runs its graphs (voice.engines) and the noise comes from numpy, so a seed gives its own audio, not the
    checkpoints' audio."""

    def __init__(self, folder: str | Path, timesteps: Optional[int] = None, temperature: Optional[float] = None,
                 length_scale: Optional[float] = None, sampler: Optional[str] = None, pause: float = 0.25,
                 engine: str = "onnxruntime", acoustic_precision: str = "fp32", vocoder_precision: str = "auto"):
        from voice.runtime import Voice  # onnxruntime only when a voice is asked for

        try:
            self.voice = Voice(folder, engine, acoustic_precision, vocoder_precision)
        except (VoiceError, OSError) as err:
            raise SynthesisError(str(err)) from None
        self.settings = {"timesteps": timesteps, "temperature": temperature, "length_scale": length_scale,
                         "sampler": sampler}
        self.device = torch.device("cpu")
        self.mel_config = MelConfig(**self.voice.spec["mel"])
        self.processor = self.voice.text
        self.speakers = {name: i for i, name in enumerate(self.voice.speakers)}
        self.pause = pause
        self.description = {"voice": {"path": str(folder), "format": self.voice.spec["format"],
                                      "files": self.voice.spec["files"]},
                            "acoustic": {"kind": "grad_tts", "runtime": engine},
                            "vocoder": {"kind": self.voice.spec["vocoder"]["kind"], "runtime": engine},
                            "mel": self.voice.spec["mel"], "speakers": list(self.speakers),
                            "sampling": {k: v for k, v in self.settings.items() if v is not None}}

    @staticmethod
    def noise(seed: int):
        rng = np.random.default_rng(seed)
        return lambda shape: rng.standard_normal(shape, dtype=np.float32)

    def acoustic(self, texts: list[str], speakers: list[Optional[int]], seeds: list[int],
                 timesteps: Optional[int] = None, temperature: Optional[float] = None,
                 length_scale: Optional[float] = None, sampler: Optional[str] = None) -> list[Spoken]:
        asked = {"timesteps": timesteps, "temperature": temperature, "length_scale": length_scale, "sampler": sampler}
        settings = {k: asked[k] if asked[k] is not None else v for k, v in self.settings.items()}
        spoken = []
        for text, speaker, seed in zip(texts, speakers, seeds):
            encoded = self.encode(text)
            try:
                mel, durations = self.voice.acoustic(encoded.ids, self.noise(seed), speaker=speaker or 0, **settings)
            except VoiceError as err:
                raise SynthesisError(str(err)) from None
            spoken.append(Spoken(torch.from_numpy(mel), torch.from_numpy(durations), encoded.words))
        return spoken

    def waveform(self, mel: torch.Tensor, seed: int) -> torch.Tensor:
        audio = torch.from_numpy(self.voice.vocode(mel.cpu().numpy(), self.noise(seed), seed))
        if not bool(torch.isfinite(audio).all()):
            raise SynthesisError("the vocoder's audio is not finite; a model may be untrained or diverged")
        return audio


def piece_seed(seed: int, line: Line, chunk: int) -> int:
    """The noise seed of one sentence of one line: fixed by --seed, the line number and the chunk,
    so batching and line order change nothing."""
    return seed * 1_000_003 + line.number * 101 + chunk


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The checkpoints and sampling settings, shared by synthesize.py and serve.py."""
    parser.add_argument("--voice", metavar="DIR", help="an exported ONNX voice (gradwave-export), run on --engine")
    parser.add_argument("--engine", choices=ENGINES, default="onnxruntime",
                        help="runs a --voice; openvino: bf16 as the precision options say")
    parser.add_argument("--acoustic", metavar="CKPT", help=f"Grad-TTS checkpoint (default: {DEFAULT_ACOUSTIC})")
    parser.add_argument("--vocoder", metavar="CKPT", help=f"DiffWave checkpoint or '{GRIFFIN_LIM}' (default: "
                                                          f"{DEFAULT_VOCODER} if it exists, else {GRIFFIN_LIM})")
    parser.add_argument("--timesteps", type=int, metavar="N",
                        help="Grad-TTS decoder steps, 0: the encoder's mean (default: the checkpoint's, else 10)")
    parser.add_argument("--sampler", choices=SAMPLERS,
                        help="Grad-TTS solver: euler (upstream), ml (max.-likelihood SDE), dpm (DPM-Solver++ 2M)")
    parser.add_argument("--temperature", type=float, metavar="T", help="default: the checkpoint's (1.5)")
    parser.add_argument("--length-scale", type=float, metavar="X",
                        help=">1 speaks slower (default: the checkpoint's, 1.0)")
    parser.add_argument("--vocoder-steps", type=int, metavar="N",
                        help="DiffWave steps (default: its fast schedule, lmnt's 6 or the bridge's own)")
    parser.add_argument("--vocoder-precision", choices=PRECISIONS, default="auto",
                        help="auto: bf16 on a CPU with native bf16 (about 2x faster), else fp32")
    parser.add_argument("--acoustic-precision", choices=PRECISIONS, default="fp32",
                        help="Grad-TTS decoder arithmetic (bf16: ~1.8x faster, mel within ~0.1)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile DiffWave (first sentence ~25 s slower, then ~1.5x faster)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: torch's, one per core)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradwave-synthesize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-f", "--file", required=True, help="text file, one utterance per line")
    parser.add_argument("-o", "--out", required=True, help="output folder")
    add_model_arguments(parser)
    parser.add_argument("--speaker", help="speaker name for lines without one (multi-speaker models)")
    parser.add_argument("--batch-size", type=int, default=1, metavar="N", help="lines per acoustic-model batch")
    parser.add_argument("--max-chars", type=int, default=300, metavar="N", help="longer lines split at sentence ends")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-mels", action="store_true",
                        help="also write each line's acoustic-model log-mel as <id>.npy (n_mels x frames; the "
                             "manifest names it in a `mel` column), e.g. for evaluation's detail ratios")
    parser.add_argument("--stream", action="store_true",
                        help="also write 16-bit PCM to stdout as each line is ready (| aplay -f S16_LE -r 22050)")
    return parser


def resolve_checkpoints(args) -> tuple[Path, str]:
    acoustic = Path(args.acoustic) if args.acoustic else DEFAULT_ACOUSTIC
    if not acoustic.is_file():
        raise SynthesisError(f"no acoustic model at {acoustic}: train one with `bash recipes/ljspeech/run.sh` "
                             "(or --demo), or pass --acoustic PATH (a published grad-tts.pt works too)")
    if args.acoustic is None:
        log.info("acoustic model: %s (the recipe's latest)", acoustic)
    vocoder = args.vocoder or (str(DEFAULT_VOCODER) if DEFAULT_VOCODER.is_file() else GRIFFIN_LIM)
    if args.vocoder is None:
        log.info("vocoder: %s", vocoder)
    return acoustic, vocoder


def synthesizer_from_args(args) -> Synthesizer:
    """The Synthesizer that `add_model_arguments`' options describe (SynthesisError/CheckpointError/OSError)."""
    if args.threads is not None:
        if args.threads < 1:
            raise SynthesisError(f"--threads must be at least 1, not {args.threads}")
        torch.set_num_threads(args.threads)
    if args.voice:
        if args.acoustic or args.vocoder:
            raise SynthesisError("--voice speaks an exported voice: give it without --acoustic and --vocoder")
        return VoiceSynthesizer(args.voice, args.timesteps, args.temperature, args.length_scale, args.sampler,
                                engine=args.engine, acoustic_precision=args.acoustic_precision,
                                vocoder_precision=args.vocoder_precision)
    acoustic, vocoder = resolve_checkpoints(args)
    return Synthesizer(acoustic, vocoder, args.device, args.timesteps, args.temperature, args.length_scale,
                       vocoder_steps=args.vocoder_steps, sampler=args.sampler,
                       vocoder_precision=args.vocoder_precision, acoustic_precision=args.acoustic_precision,
                       compile_vocoder=args.compile)


def speak_pieces(synth: Synthesizer, lines: list[Line], chosen: list[tuple[int, int, str]], args, mels: dict,
                 errors: dict, seconds: dict) -> None:
    """Mels of `chosen` (line index, chunk, text) in one batch into `mels`; when the batch fails, one
    piece at a time, so that only the failing lines land in `errors`."""
    chosen = [c for c in chosen if c[0] not in errors]
    if not chosen:
        return
    try:
        speakers = [synth.speaker_id(lines[i].speaker or args.speaker) for i, _, _ in chosen]
        begin = time.perf_counter()
        results = synth.acoustic([t for _, _, t in chosen], speakers,
                                 [piece_seed(args.seed, lines[i], k) for i, k, _ in chosen])
        spent = (time.perf_counter() - begin) / len(chosen)
        for (i, k, _), spoken in zip(chosen, results):
            mels[(i, k)] = spoken.mel
            seconds[i] = seconds.get(i, 0.0) + spent
    except SynthesisError as err:
        if len(chosen) == 1:
            errors[chosen[0][0]] = str(err)
            return
        for piece in chosen:
            speak_pieces(synth, lines, [piece], args, mels, errors, seconds)


def vocode_line(synth: Synthesizer, index: int, line: Line, mels: dict, seed: int, emit=None) -> torch.Tensor:
    """The line's audio: its sentences vocoded and joined with pauses; `emit(samples)` receives each
    sentence (after its pause) as soon as it is ready."""
    pieces = []
    for k in sorted(k for (i, k) in mels if i == index):
        pieces.append(synth.waveform(mels[(index, k)], piece_seed(seed, line, k)))
        if emit is not None:
            emit(torch.cat([synth.silence(), pieces[-1]]) if k else pieces[-1])
    return synth.join(pieces)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        synth = synthesizer_from_args(args)
        lines, blank, undecodable = parse_lines(Path(args.file))
    except (SynthesisError, CheckpointError, OSError) as err:
        log.error("%s", err)
        return 2
    if synth.speakers and args.speaker is None:
        log.info("lines without a speaker get %r, the first of this model's %d (choose with --speaker)",
                 next(iter(synth.speakers)), len(synth.speakers))
    for number, why in undecodable.items():
        log.error("%s line %d: %s", args.file, number, why)
    if not lines and not undecodable:
        log.warning("%s has no text to speak", args.file)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pieces = []  # (line index, chunk index, text)
    for index, line in enumerate(lines):
        for k, chunk in enumerate(split_long(line.text, args.max_chars)):
            pieces.append((index, k, chunk))
    mels: dict[tuple[int, int], torch.Tensor] = {}
    errors: dict[int, str] = {}
    seconds_acoustic: dict[int, float] = {}
    started = time.perf_counter()
    first_audio: list[float] = []

    def emit(samples: torch.Tensor) -> None:
        if not first_audio:
            first_audio.append(time.perf_counter() - started)
        sys.stdout.buffer.write(pcm16(samples).tobytes())
        sys.stdout.buffer.flush()

    if not args.stream:  # all lines through the acoustic model first, in length-sorted batches
        order = sorted(range(len(pieces)), key=lambda p: len(pieces[p][2]))
        bar = progress_bar(total=len(pieces), desc="acoustic model", unit="sentence")
        for start in range(0, len(order), args.batch_size):
            batch = [pieces[p] for p in order[start:start + args.batch_size]]
            speak_pieces(synth, lines, batch, args, mels, errors, seconds_acoustic)
            bar.update(len(batch))
        bar.close()
    rows, total_audio, total_time = [], 0.0, 0.0
    bar = progress_bar(total=len(lines), desc="speaking" if args.stream else "vocoder", unit="line")
    for index, line in enumerate(lines):
        if args.stream:  # line by line, in order, each sentence sent as soon as it is vocoded
            speak_pieces(synth, lines, [p for p in pieces if p[0] == index], args, mels, errors, seconds_acoustic)
        if index in errors:
            log.error("%s line %d: %s", args.file, line.number, errors[index])
            bar.update(1)
            continue
        begin = time.perf_counter()
        try:
            audio = vocode_line(synth, index, line, mels, args.seed, emit if args.stream else None)
        except SynthesisError as err:
            errors[index] = str(err)
            log.error("%s line %d: %s", args.file, line.number, err)
            bar.update(1)
            continue
        vocoder_seconds = time.perf_counter() - begin
        acoustic_seconds = seconds_acoustic.get(index, 0.0)
        elapsed = vocoder_seconds + acoustic_seconds
        target = out / f"{line.uid}.wav"
        save_wav(target, audio, synth.sample_rate)
        seconds = len(audio) / synth.sample_rate
        total_audio += seconds
        total_time += elapsed
        normalized = " ".join(synth.processor.encode(t).normalized for t in split_long(line.text, args.max_chars))
        rows.append([line.uid, line.text, normalized, target.name, f"{seconds:.3f}", f"{acoustic_seconds / seconds:.4f}",
                     f"{vocoder_seconds / seconds:.4f}", f"{elapsed / seconds:.4f}"])
        if args.save_mels:
            mel = torch.cat([mels[(index, k)] for k in sorted(k for (i, k) in mels if i == index)], -1)
            np.save(out / f"{line.uid}.npy", mel.float().cpu().numpy())
            rows[-1].append(f"{line.uid}.npy")
        bar.update(1)
    bar.close()
    with (out / "manifest.tsv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["id", "text", "normalized", "file", "seconds", "rtf_acoustic", "rtf_vocoder", "rtf"]
                        + (["mel"] if args.save_mels else []))
        writer.writerows(rows)
    rtf = f"real-time factor {total_time / total_audio:.3f}" if total_audio else "no audio"
    latency = f", first audio after {first_audio[0]:.2f} s" if first_audio else ""
    failed = len(errors) + len(undecodable)
    print(f"{len(rows)} utterances, {total_audio:.1f} s of audio, {rtf}{latency}; "
          f"{failed} failed, {blank} blank lines skipped; wrote {out}/", file=sys.stderr if args.stream else sys.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
