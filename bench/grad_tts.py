"""Grad-TTS benchmark (full-size LJSpeech model, CPU threads as given).

    python bench/grad_tts.py train [--threads 2] [--repeats 3] [--profile]
    python bench/grad_tts.py synth [--threads 2] [--steps 10 50] [--upstream Speech-Backbones/Grad-TTS]

train: one optimizer step at batch 16, text ~150 tokens, mel ~600 frames, 172-frame decoder
segments (the shared training loop's step: forward, MAS, backward, clipping, Adam).
synth: synthesis time per second of generated audio (deterministic sampler, batch 1); with --upstream DIR
(a checkout of upstream's Grad-TTS folder, the one holding model/) upstream's model on the same random
weights, timed in turn with ours.
Each mode reports the process's peak resident memory.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import torch

# Run as a script, bench/ would come first on sys.path and this file would shadow the package.
sys.path[0] = str(Path(__file__).resolve().parents[1])
from bench.util import best_in_turn, mode_parser, peak_rss_mib, profile_table, report_train_step, run_mode  # noqa: E402
from grad_tts.config import GradTTSModelConfig  # noqa: E402
from grad_tts.model import GradTTS  # noqa: E402


def training_batch(batch=16, tokens=150, frames=600, n_feats=80, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x_lengths = torch.randint(tokens - 20, tokens + 1, (batch,), generator=gen)
    x_lengths[0] = tokens
    y_lengths = torch.randint(frames - 100, frames + 1, (batch,), generator=gen)
    y_lengths[0] = frames
    x = torch.randint(0, 148, (batch, tokens), generator=gen)
    y = torch.randn(batch, n_feats, frames, generator=gen) - 5
    return {"x": x, "x_lengths": x_lengths, "y": y, "y_lengths": y_lengths, "out_size": 172,
            "seeds": torch.arange(batch)}


def bench_train(args):
    model = GradTTS(GradTTSModelConfig())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = training_batch()
    encoder_params = list(model.encoder.parameters())
    decoder_params = list(model.decoder.parameters())

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = model.compute_loss(batch)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder_params, 1.0)
        torch.nn.utils.clip_grad_norm_(decoder_params, 1.0)
        optimizer.step()

    report_train_step(step, args, "batch 16, ~150 tokens, ~600 frames, 172-frame segments")


def upstream_model(folder: str, ours: GradTTS) -> torch.nn.Module:
    """Upstream's GradTTS from its source folder, holding `ours`'s weights (their names are upstream's).
    Its monotonic alignment (a Cython build, used in training only) is left out."""
    sys.modules["model.monotonic_align"] = types.ModuleType("model.monotonic_align")
    sys.path.insert(0, str(Path(folder).resolve()))
    from model.tts import GradTTS as UpstreamGradTTS

    c = ours.config
    upstream = UpstreamGradTTS(c.n_vocab, c.n_spks, c.spk_emb_dim, c.n_enc_channels, c.filter_channels,
                               c.filter_channels_dp, c.n_heads, c.n_enc_layers, c.enc_kernel, c.enc_dropout,
                               c.window_size, c.n_feats, c.dec_dim, c.beta_min, c.beta_max, c.pe_scale)
    weights = ours.state_dict()
    upstream.load_state_dict({name: weights[name] for name in upstream.state_dict()})
    return upstream.eval()


def bench_synth(args):
    model = GradTTS(GradTTSModelConfig()).eval()
    x = torch.randint(0, 148, (1, 150))
    lengths = torch.tensor([150])
    systems = {"ours": lambda n: model.synthesise(x, lengths, n_timesteps=n, temperature=1.5)["mel_lengths"]}
    if args.upstream:
        upstream = upstream_model(args.upstream, model)
        systems["upstream"] = lambda n: upstream(x, lengths, n, temperature=1.5)[1].shape[-1:]
    for n_steps in args.steps:
        frames = {name: int(synthesise(n_steps)[0]) for name, synthesise in systems.items()}  # and warm-up
        best = best_in_turn({name: lambda run=synthesise: run(n_steps) for name, synthesise in systems.items()},
                            args.repeats, warmup=False)
        for name, taken in best.items():
            seconds = frames[name] * 256 / 22050
            print(f"{name} synthesis, {n_steps} steps: {taken:.2f} s for {seconds:.2f} s of audio = "
                  f"{taken / seconds:.3f} s per second of audio ({args.threads} threads)")
    print(f"peak RSS {peak_rss_mib():.0f} MiB")
    if args.profile:
        print(profile_table(lambda: model.synthesise(x, lengths, n_timesteps=args.steps[0])))


def main(argv=None):
    modes = {"train": bench_train, "synth": bench_synth}
    parser = mode_parser(__doc__, list(modes))
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--upstream", metavar="DIR", help="upstream's Grad-TTS folder, timed beside ours (synth)")
    run_mode(parser.parse_args(argv), modes)


if __name__ == "__main__":
    main()
