"""The synthesizer: text -> mel -> waveform, on PyTorch checkpoints (`Synthesizer`) or an exported ONNX
voice (`VoiceSynthesizer`), behind one interface that synthesize.py, the servers, torch.hub and the
benchmarks speak through:

    synth = Synthesizer("exp/grad_tts/last.pt", "exp/diffwave/last.pt")
    spoken = synth.acoustic(["Hello there."], [synth.speaker_id(None)], seeds=[0])[0]
    audio = synth.waveform(spoken.mel, seed=0)          # float waveform at synth.sample_rate
    words = spoken.word_times(synth.seconds_per_frame)  # each word's start and end in seconds

Sampling settings left at None are the model's own (its checkpoint's `inference` config, or the voice's).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from gradwave.common.autotune import digest
from gradwave.common.griffin_lim import GRIFFIN_LIM, ITERATIONS, GriffinLim
from gradwave.common.mel import MelConfig, MelSpectrogram
from gradwave.common.precision import PRECISIONS, choose_precision
from diffwave.checkpoint import load_diffwave
from diffwave.checkpoint import mel_config as vocoder_mel_config
from diffwave.inference import resolve_precision, vocode
from grad_tts.checkpoint import inference_config, load_grad_tts, mel_config, text_config
from grad_tts.samplers import sampling_settings
from text import Encoded, TextProcessor
from gradwave.voice.files import VoiceError

from .lines import Piece

PROBE_SENTENCE = "The quick brown fox jumps over the lazy dog."  # times the decoder's precisions


class SynthesisError(RuntimeError):
    pass


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


class BaseSynthesizer:
    """What both backends share. A backend sets `mel_config`, `processor`, `speakers` (name -> id),
    `sampling` (its settings, resolved), `pause`, `device` and `description`, and implements
    `acoustic(texts, speakers, seeds, **settings) -> list[Spoken]` and `waveform(mel, seed)`."""
    mel_config: MelConfig
    processor: TextProcessor
    speakers: dict[str, int]
    sampling: dict
    pause: float
    device: torch.device
    description: dict

    @property
    def sample_rate(self) -> int:
        return self.mel_config.sample_rate

    @property
    def seconds_per_frame(self) -> float:
        return self.mel_config.hop_length / self.mel_config.sample_rate

    def settings(self, **asked) -> dict:
        """The sampling settings for one call: the caller's where given, else the synthesizer's."""
        try:
            return sampling_settings(self.sampling, **asked)
        except ValueError as err:
            raise SynthesisError(str(err)) from None

    def speaker_id(self, name: Optional[str]) -> Optional[int]:
        if not self.speakers:
            return None
        if name is None:
            return 0
        if name not in self.speakers:
            raise SynthesisError(f"unknown speaker {name!r}; this model has {', '.join(self.speakers)}")
        return self.speakers[name]

    def encode(self, text: str) -> Encoded:
        """The text's ids and words; SynthesisError when none of it can be spoken."""
        try:
            return self.processor.encode_speakable(text)
        except ValueError as err:
            raise SynthesisError(str(err)) from None

    @staticmethod
    def finite(audio: torch.Tensor, why: str) -> torch.Tensor:
        if not bool(torch.isfinite(audio).all()):
            raise SynthesisError(f"the vocoder's audio is not finite ({why})")
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


class Synthesizer(BaseSynthesizer):
    """A Grad-TTS checkpoint and a vocoder (a DiffWave checkpoint or Griffin-Lim), run by PyTorch."""

    def __init__(self, acoustic: str | Path, vocoder: str | Path = GRIFFIN_LIM, device: str = "cpu",
                 timesteps: Optional[int] = None, temperature: Optional[float] = None,
                 length_scale: Optional[float] = None, vocoder_steps: Optional[int] = None, pause: float = 0.25,
                 sampler: Optional[str] = None, vocoder_precision: str = "auto", acoustic_precision: str = "fp32",
                 compile_vocoder: bool = False):
        self.device = torch.device(device)
        self.model, ckpt = load_grad_tts(acoustic, self.device)
        try:
            self.sampling = sampling_settings(inference_config(ckpt), timesteps=timesteps, temperature=temperature,
                                              length_scale=length_scale, sampler=sampler)
        except ValueError as err:
            raise SynthesisError(f"{acoustic}: {err}") from None
        if self.sampling["timesteps"] and self.model.decoder.objective == "flow" and self.sampling["sampler"] != "euler":
            raise SynthesisError(f"{acoustic}: its decoder learnt the flow objective and samples with euler steps, "
                                 f"not {self.sampling['sampler']}")
        self.mel_config = mel_config(ckpt)
        self.processor = TextProcessor(text_config(ckpt))
        self.speakers = {name: i for i, name in enumerate(ckpt.get("speakers") or [])}
        self.extractor = MelSpectrogram(self.mel_config)
        self.denoised_range = self.extractor.value_range()  # bounds the ml/dpm samplers' clean-mel estimate
        self.vocoder_steps = vocoder_steps
        self.pause = pause
        self.vocoder = None
        self.griffin_lim = (GriffinLim(self.extractor, ITERATIONS, persistent=False) if str(vocoder) == GRIFFIN_LIM
                            else None)
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
                            "sampling": {"sampler": self.sampling["sampler"], "timesteps": self.sampling["timesteps"],
                                         "temperature": self.sampling["temperature"],
                                         "precision": self.acoustic_precision}}
        if str(vocoder) != GRIFFIN_LIM:
            self.load_vocoder(acoustic, vocoder, vocoder_precision, compile_vocoder)

    def load_vocoder(self, acoustic, vocoder, precision: str, compile_vocoder: bool) -> None:
        self.vocoder, vckpt = load_diffwave(vocoder, self.device)
        theirs = vocoder_mel_config(vckpt)
        if theirs is None:
            raise SynthesisError(f"{vocoder}: an unconditional DiffWave cannot vocode mels")
        differences = self.mel_config.differences(theirs)
        if differences:
            raise SynthesisError(f"the acoustic model ({acoustic}) and the vocoder ({vocoder}) use different mel "
                                 "features (acoustic != vocoder): " + "; ".join(differences))
        self.vocoder_precision = resolve_precision(precision, self.vocoder)
        self.description["vocoder"] = {"path": str(vocoder), "kind": "diffwave", "config": vckpt.get("config"),
                                       "mel_matches_acoustic": True, "precision": self.vocoder_precision,
                                       "compiled": compile_vocoder}
        if compile_vocoder:  # inductor fuses the gates' elementwise work; any length, no recompiling
            self.vocoder.denoise = torch.compile(self.vocoder.denoise, dynamic=True)

    def decoder_precision(self, requested: str, ckpt: dict) -> str:
        """The decoder's precision: as requested, or for "auto" the faster where the CPU has native bf16
        (timed on one sentence, once per model config and CPU; fp32 when the decoder does not run)."""
        if requested == "auto" and self.sampling["timesteps"] == 0:
            return "fp32"
        if requested != "auto":  # checked, not timed
            return choose_precision(requested, self.device, "", None)
        name = f"the Grad-TTS decoder {digest(ckpt.get('config'))}"
        ids = torch.tensor([self.processor.encode(PROBE_SENTENCE).ids], device=self.device)
        lengths = torch.tensor([ids.shape[1]], device=self.device)
        spk = torch.zeros(1, dtype=torch.long, device=self.device) if self.speakers else None
        return choose_precision(requested, self.device, name, lambda p: self.model.synthesise(
            ids, lengths, self.sampling["timesteps"], spk=spk, sampler=self.sampling["sampler"],
            decoder_bf16=p == "bf16"))

    def acoustic(self, texts: list[str], speakers: list[Optional[int]], seeds: list[int], **asked) -> list[Spoken]:
        """Mels of several texts in one batch; each depends only on its own text, speaker and seed.
        `asked`: sampling settings for this call (timesteps, temperature, length_scale, sampler)."""
        settings = self.settings(**asked)
        encoded = [self.encode(t) for t in texts]
        lengths = torch.tensor([len(e.ids) for e in encoded])
        x = torch.zeros(len(texts), int(lengths.max()), dtype=torch.long)
        for k, e in enumerate(encoded):
            x[k, :len(e.ids)] = torch.tensor(e.ids)
        spk = torch.tensor(speakers, device=self.device) if self.speakers else None
        out = self.model.synthesise(x.to(self.device), lengths.to(self.device), settings["timesteps"],
                                    settings["temperature"], False, settings["length_scale"], spk,
                                    generators=[torch.Generator().manual_seed(s) for s in seeds],
                                    sampler=settings["sampler"], decoder_bf16=self.acoustic_precision == "bf16",
                                    denoised_range=self.denoised_range)
        if not bool(torch.isfinite(out["mel"]).all()):
            raise SynthesisError(f"the {settings['sampler']} sampler diverged at {settings['timesteps']} steps "
                                 "(the mel is not finite); use more steps or --sampler euler")
        return [Spoken(out["mel"][k, :, :int(n)], out["durations"][k, :len(e.ids)], e.words)
                for k, (n, e) in enumerate(zip(out["mel_lengths"], encoded))]

    def waveform(self, mel: torch.Tensor, seed: int) -> torch.Tensor:
        """The mel's audio; SynthesisError when it is not finite (a vocoder that diverged, a mel that
        is not finite)."""
        generator = torch.Generator().manual_seed(seed)
        if self.vocoder is None:
            audio = self.griffin_lim.reconstruct(mel.cpu(), generator)
        else:
            audio = vocode(mel.unsqueeze(0), self.vocoder, steps=self.vocoder_steps, generator=generator,
                           precision=self.vocoder_precision)[0].cpu()
        return self.finite(audio, f"the mel spans {float(mel.min()):.3g} to {float(mel.max()):.3g}; "
                                  "a model may be untrained or diverged")


class VoiceSynthesizer(BaseSynthesizer):
    """An exported ONNX voice (gradwave-export): onnxruntime or OpenVINO runs its graphs (gradwave.voice.engines)
    and the noise comes from numpy, so a seed gives its own audio, not the checkpoints' audio."""

    def __init__(self, folder: str | Path, timesteps: Optional[int] = None, temperature: Optional[float] = None,
                 length_scale: Optional[float] = None, sampler: Optional[str] = None, pause: float = 0.25,
                 engine: str = "onnxruntime", acoustic_precision: str = "fp32", vocoder_precision: str = "auto"):
        from gradwave.voice.runtime import Voice  # onnxruntime only when a voice is asked for

        try:
            self.voice = Voice(folder, engine, acoustic_precision, vocoder_precision)
            self.sampling = sampling_settings(self.voice.spec["acoustic"], timesteps=timesteps,
                                              temperature=temperature, length_scale=length_scale, sampler=sampler)
        except (VoiceError, OSError) as err:
            raise SynthesisError(str(err)) from None
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
                            "sampling": dict(self.sampling)}

    @staticmethod
    def noise(seed: int):
        rng = np.random.default_rng(seed)
        return lambda shape: rng.standard_normal(shape, dtype=np.float32)

    def acoustic(self, texts: list[str], speakers: list[Optional[int]], seeds: list[int], **asked) -> list[Spoken]:
        settings = self.settings(**asked)
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
        return self.finite(audio, "a model may be untrained or diverged")


def speak_pieces(synth: BaseSynthesizer, pieces: list[Piece], speakers: list[Optional[int]],
                 errors: dict[int, str]) -> None:
    """The mels of `pieces` (each with its speaker id) in one batch, onto each piece; when the batch
    fails, one piece at a time, so that only the failing lines land in `errors` (line index -> why).
    Pieces of lines that failed before are skipped."""
    chosen = [(piece, speaker) for piece, speaker in zip(pieces, speakers) if piece.line not in errors]
    if not chosen:
        return
    try:
        begin = time.perf_counter()
        results = synth.acoustic([p.text for p, _ in chosen], [s for _, s in chosen], [p.seed for p, _ in chosen])
        spent = (time.perf_counter() - begin) / len(chosen)
        for (piece, _), spoken in zip(chosen, results):
            piece.mel, piece.seconds = spoken.mel, spent
    except SynthesisError as err:
        if len(chosen) == 1:
            errors[chosen[0][0].line] = str(err)
            return
        for piece, speaker in chosen:
            speak_pieces(synth, [piece], [speaker], errors)
