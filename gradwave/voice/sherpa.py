"""The voice as sherpa-onnx loads a Matcha-family model (`gradwave-export --format sherpa-onnx`).

sherpa-onnx (k2-fsa, 2.0 and later) runs its offline TTS from an acoustic graph (x, x_length, noise_scale,
length_scale [, sid] -> mel), a vocoder graph (mel -> audio, `model_type` "hifigan"), `tokens.txt` and a
`lexicon.txt` (word -> tokens), which its Matcha frontend reads without espeak-ng:

- `lexicon.txt` holds every word of our dictionary (CMUdict, first pronunciation, as `text/` reads it),
  its phones named as our symbols; `tokens.txt` is our symbol table.
- sherpa-onnx splits a text at , . ! ? ; : and joins short pieces again without the space that followed the
  mark, and intersperses its blank within each piece; the graph takes its blanks out, puts the space back
  after a mark that a word follows, and intersperses our blank over the whole sentence, so that the ids
  the model sees are those of our frontend for the same words.
- Noise is drawn inside the graphs (sherpa-onnx feeds none): the prior's noise has the standard deviation
  noise_scale / temperature (1, sherpa-onnx's default, is the voice's own temperature; 0 is none), and the
  vocoder draws its sampler's noise. The sampler runs a fixed number of steps per file, as icefall's Matcha
  exports do (model-steps-N.onnx); our own runtime keeps the steps a run-time choice.

What sherpa-onnx does not do with these files: run our cleaners (numbers and abbreviations are not spelled
out; a word missing from the dictionary is skipped, where ours spells it), and its `silence_scale`
(default 0.2) shortens pauses after synthesis.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Mapping, Optional

import torch
from torch import nn

from grad_tts.model import durations_to_path
from grad_tts.text_encoder import sequence_mask
from text import TextConfig, TextProcessor

from .files import VoiceError
from .tracing import add_metadata, export_graph

SUBFOLDER = "sherpa-onnx"
MARKS = ",.!?;:"  # where sherpa-onnx splits a text


class SherpaAcousticGraph(nn.Module):
    """x (1, N) token ids from sherpa-onnx's lexicon frontend, x_length (1,), noise_scale (1,), length_scale
    (1,) [, sid (1,)] -> mel (1, n_feats, frames): Grad-TTS's encoder, durations and `steps` steps of its
    sampler, with the noise drawn in the graph."""

    def __init__(self, model, steps: int, sampler: str, temperature: float, denoised_range: tuple[float, float],
                 symbols: list[str], blank_id: int):
        super().__init__()
        self.model, self.steps, self.sampler, self.temperature = model, steps, sampler, temperature
        self.denoised_range, self.blank_id, self.space_id = denoised_range, blank_id, symbols.index(" ")
        self.register_buffer("marks", torch.tensor([symbols.index(m) for m in MARKS]), persistent=False)

    def tokens(self, x: torch.Tensor, x_length: torch.Tensor) -> torch.Tensor:
        """sherpa-onnx's ids -> ours (see the module's docstring)."""
        ids = x[0]
        position = torch.cumsum(torch.ones_like(ids), 0) - 1
        ids = ids[(position < x_length[0]) & (ids != self.blank_id)]
        ids = ids[torch.cumsum((ids != self.space_id).long(), 0) > 0]  # no leading spaces
        is_mark = (ids[:, None] == self.marks[None, :]).any(1)
        follower = torch.cat([ids[1:], torch.full((1,), self.space_id, dtype=ids.dtype)])
        word_follows = (follower != self.space_id) & ~(follower[:, None] == self.marks[None, :]).any(1)
        inserted = torch.where(is_mark & word_follows, torch.full_like(ids, self.space_id), torch.full_like(ids, -1))
        spaced = torch.stack([ids, inserted], 1).reshape(-1)
        ids = spaced[spaced >= 0]
        blanks = torch.full_like(ids, self.blank_id)
        tail = torch.full((1,), self.blank_id, dtype=ids.dtype)
        return torch.cat([torch.stack([blanks, ids], 1).reshape(-1), tail])

    def forward(self, x, x_length, noise_scale, length_scale, sid=None):
        tokens = self.tokens(x, x_length)[None]
        mu_x, logw, x_mask = self.model.encoder(tokens, (tokens >= 0).sum(1))
        durations = torch.ceil(torch.exp(logw) * x_mask) * length_scale
        frames = torch.clamp_min(durations.sum((1, 2)), 1).long()
        y_mask = sequence_mask(frames, ((frames[0] + 3) // 4) * 4).unsqueeze(1).to(mu_x.dtype)
        mu_y = torch.matmul(mu_x, durations_to_path(durations.squeeze(1), x_mask.transpose(1, 2) * y_mask))
        if self.steps == 0:  # the encoder's mean, as our runtime speaks it at 0 steps; sherpa-onnx still
            mel = mu_y + 0 * noise_scale  # passes noise_scale, so the graph must keep it as an input
            return mel.index_select(2, torch.arange(frames[0]))
        z = mu_y + torch.randn_like(mu_y) * (noise_scale / self.temperature)
        mel = self.model.decoder.reverse_diffusion(z, y_mask, mu_y, self.steps, False,
                                                   self.model.speaker_embedding(sid), torch.randn_like,
                                                   self.sampler, False, self.denoised_range)
        return mel.index_select(2, torch.arange(frames[0]))


def check_text(text: TextConfig, source: Path) -> None:
    """sherpa-onnx reads words through a lexicon: the voice's G2P must be a dictionary."""
    if text.g2p != "cmudict":
        raise VoiceError(f"{source}: --format sherpa-onnx needs a model whose text G2P is cmudict, not {text.g2p!r} "
                         "(sherpa-onnx would read its words through our dictionary)")


def tokens_file(symbols: list[str]) -> str:
    """tokens.txt: `token id` per line, the space as sherpa-onnx writes it (the id alone)."""
    return "".join(f"{i}\n" if s == " " else f"{s} {i}\n" for i, s in enumerate(symbols))


def lexicon_file(dictionary: Mapping[str, list]) -> str:
    """lexicon.txt: every dictionary word that sherpa-onnx can isolate (no digit, no mark it splits at) and
    its first pronunciation, the phones named as our symbols."""
    return "".join(" ".join([word] + ["@" + phone for phone in dictionary[word][0]]) + "\n"
                   for word in sorted(dictionary)
                   if word.isascii() and not any(c.isdigit() or c.isspace() or c in MARKS for c in word))


def export_sherpa(model, voice: dict, out: Path, steps: list[int]) -> list[str]:
    """Write the sherpa-onnx files of the Grad-TTS `model` (fp32, eval) and of `out`'s vocoder.onnx (which
    draws its phase and noise when given the mel alone, as sherpa-onnx calls it) into `out` / SUBFOLDER;
    returns their names relative to `out`."""
    text = TextConfig(**voice["text"])
    folder = out / SUBFOLDER
    folder.mkdir()
    own = voice["acoustic"]
    symbols = list(text.symbols)
    names = []
    for count in steps:
        graph = SherpaAcousticGraph(model, count, own["sampler"], own["temperature"], tuple(own["denoised_range"]),
                                    symbols, text.blank_id)
        inputs = [torch.tensor([[symbols.index(" "), 40, symbols.index(","), 50, 60]]), torch.tensor([5]),
                  torch.tensor([1.0]), torch.tensor([1.0])]
        input_names = ["x", "x_length", "noise_scale", "length_scale"]
        if model.config.n_spks > 1:
            inputs.append(torch.zeros(1, dtype=torch.long))
            input_names.append("sid")
        name = f"model-steps-{count}.onnx"
        export_graph(graph, tuple(inputs), folder / name, input_names, ["mel"],
                     {"x": {1: "tokens"}, "mel": {2: "frames"}})
        add_metadata(folder / name, {
            "model_type": "matcha-tts", "language": "English", "voice": "en-us", "version": 1,
            "sample_rate": voice["sample_rate"], "n_speakers": model.config.n_spks, "has_espeak": 0,
            "use_eos_bos": 0, "pad_id": text.blank_id, "num_ode_steps": count,
            "sampler": own["sampler"], "temperature": own["temperature"],
            "comment": f"Grad-TTS exported by gradwave {voice['toolkit']}"})
        names.append(name)
    shutil.copyfile(out / voice["vocoder"]["file"], folder / "vocoder.onnx")
    add_metadata(folder / "vocoder.onnx", {"model_type": "hifigan", "sample_rate": voice["sample_rate"],
                                            "comment": f"{voice['vocoder']['kind']} exported by gradwave"})
    (folder / "tokens.txt").write_text(tokens_file(symbols))
    (folder / "lexicon.txt").write_text(lexicon_file(TextProcessor(text).dictionary))
    return [f"{SUBFOLDER}/{n}" for n in names + ["vocoder.onnx", "tokens.txt", "lexicon.txt"]]


def sherpa_tts(folder: Path, steps: Optional[int] = None, noise_scale: float = 1.0, threads: int = 1,
               max_num_sentences: int = 1, silence_scale: float = 1.0):
    """A sherpa_onnx.OfflineTts of the files in `folder` (a voice's SUBFOLDER); `steps` picks the acoustic
    graph (default: the first)."""
    import sherpa_onnx

    model = folder / f"model-steps-{steps}.onnx" if steps is not None else sorted(folder.glob("model-steps-*.onnx"))[0]
    matcha = sherpa_onnx.OfflineTtsMatchaModelConfig(
        acoustic_model=str(model), vocoder=str(folder / "vocoder.onnx"), lexicon=str(folder / "lexicon.txt"),
        tokens=str(folder / "tokens.txt"), noise_scale=noise_scale)
    config = sherpa_onnx.OfflineTtsConfig(
        model=sherpa_onnx.OfflineTtsModelConfig(matcha=matcha, num_threads=threads),
        max_num_sentences=max_num_sentences, silence_scale=silence_scale)
    return sherpa_onnx.OfflineTts(config)
