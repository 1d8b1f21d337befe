#!/usr/bin/env bash
# LJSpeech recipe: data -> preparation -> Grad-TTS -> DiffWave -> synthesis -> evaluation.
#
#   bash recipes/ljspeech/run.sh [OPTIONS]          (the no-download demo: bash recipes/ljspeech/run.sh --demo)
#
# Stages (each is skipped when its .done marker exists; a training stage that was interrupted resumes):
#   0 data       LJSpeech-1.1 from --data DIR, data/LJSpeech-1.1, or a download when the network allows;
#                with --demo: 3000 sentences chosen for phonetic coverage (local/demo_text.py), spoken by
#                flite (or espeak-ng), and the held-out new_sentences.txt in data/demo/new_sentences
#   1 prepare    check every wav and text, resample, split
#   2 grad_tts   train the acoustic model            (exp/grad_tts/last.pt)
#   3 diffwave   train the vocoder on the same mels  (exp/diffwave/last.pt)
#   4 synthesize the test sentences, the demo's new_sentences and lines.txt (exp/synth/, and out/ for the demo)
#   5 evaluate   intelligibility, quality, fidelity and speed of each test split (exp/eval/report.md)
#
# Options:
#   --demo               the no-download demo: its own corpus and configs (conf/demo_*.json), both models
#                        trained at once on one thread each, the whole run within about 30 minutes
#   --stage N, --stop-stage M   run stages N..M (0..5)
#   --data DIR           an LJSpeech-1.1 folder (metadata.csv, wavs/)
#   --split-dir DIR      your train/valid/test split, e.g. ../shared/reference/ljspeech_split
#   --new-sentences DIR  LJSpeech-style recordings of sentences apart from the training text: a test split of
#                        its own, evaluated first (the demo makes data/demo/new_sentences)
#   --work DIR           where everything is written (default: the repository root)
#   --no-setup           skip scripts/setup.sh
#   --ngpu N             train each model on N GPUs through torchrun
#   --grad-tts-conf FILE, --diffwave-conf FILE   the models' configs (default: conf/, or conf/demo_* with --demo)
#   --minutes N          training budget of stages 2+3 (0 keeps the configs' own limits; the demo's default:
#                        what keeps its whole run within 30 minutes after set-up and data, at most 22)
#   --schedule sequential|parallel   stages 2 and 3 one after the other (Grad-TTS gets --grad-tts-share of the
#                        budget, 0.5), or both at once with one CPU thread each (the demo's default: the vocoder
#                        learns from recordings, so it need not wait for the acoustic model)
#   --grad-tts-share F   see --schedule
#   --seed N             train.seed of both models: one seed, one model (default: the configs')
#   --vocoder-clips N    DiffWave trains on the first N training clips (the demo's default: 400)
#   --vocoder-finetune F the vocoder's last share F of its minutes learns the acoustic model's teacher-forced
#                        mels of its clips instead of the recordings' own (the demo's default 0.27, else 0)
#
# Python: $PYTHON when set, else the active virtualenv ($VIRTUAL_ENV), else the repository's .venv
#   (what scripts/setup.sh makes), else python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
stage=0
stop_stage=5
data=""
split_dir=""
ngpu=0
demo=false
work="$repo"
setup=true
gt_conf=""
dw_conf=""
minutes=""
schedule=""
gt_share=0.5
demo_deadline=30  # minutes the demo's whole run should take
vocoder_clips=""
new_sentences=""
seed=""
finetune_share=""

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --split-dir) split_dir=$2; shift 2 ;;
    --ngpu) ngpu=$2; shift 2 ;;
    --demo) demo=true; shift ;;
    --work) work=$2; shift 2 ;;
    --no-setup) setup=false; shift ;;
    --grad-tts-conf) gt_conf=$2; shift 2 ;;
    --diffwave-conf) dw_conf=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --schedule) schedule=$2; shift 2 ;;
    --grad-tts-share) gt_share=$2; shift 2 ;;
    --vocoder-clips) vocoder_clips=$2; shift 2 ;;
    --new-sentences) new_sentences=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --vocoder-finetune) finetune_share=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

if $demo; then schedule=${schedule:-parallel}; fi
schedule=${schedule:-sequential}
case "$schedule" in sequential|parallel) ;; *) echo "run.sh: --schedule must be sequential or parallel" >&2; exit 2 ;; esac
gt_budget=(); dw_budget=()
# The training budget of stages 2+3. The demo without --minutes fits the whole run in $demo_deadline
# minutes: what set-up and data took so far and a reserve for synthesis and evaluation come off it,
# and it is capped at 22. The reserve is what stages 4-5 take on 2 cores: about 4 minutes with
# AVX-512 (5 reserved), 10 on an AVX2-only CPU (a measurement of the earlier, smaller evaluation).
set_budget() {
  if $demo && [ -z "$minutes" ]; then
    local demo_reserve=10
    "$python" -c "import sys, torch; sys.exit(not torch.backends.cpu.get_cpu_capability().startswith('AVX512'))" \
      2>/dev/null && demo_reserve=5
    minutes=$(awk -v d="$demo_deadline" -v e="$(( $(date +%s) - start_time ))" -v r="$demo_reserve" \
      'BEGIN { m = d - e / 60 - r; if (m > 22) m = 22; if (m < 5) m = 5; printf "%.1f", m }')
    log "demo: $minutes minutes of training, so that the run ends within about $demo_deadline minutes"
  fi
  if [ -n "$minutes" ] && [ "$minutes" != 0 ]; then
    if [ "$schedule" = parallel ]; then
      gt_minutes=$minutes; dw_minutes=$minutes
    else
      gt_minutes=$(awk -v m="$minutes" -v s="$gt_share" 'BEGIN { printf "%.2f", m * s }')
      dw_minutes=$(awk -v m="$minutes" -v g="$gt_minutes" 'BEGIN { printf "%.2f", m - g }')
    fi
    gt_budget=(--set "train.max_minutes=$gt_minutes"); dw_budget=(--set "train.max_minutes=$dw_minutes")
  fi
}

start_time=$(date +%s)
log_name=run.sh
source "$repo/recipes/lib.sh"
if $setup; then bash "$repo/scripts/setup.sh"; fi
pick_python

mkdir -p "$work"
cd "$work"
exp=exp
prepared=data/prepared
if $demo; then conf_prefix="$here/conf/demo_"; else conf_prefix="$here/conf/"; fi
gt_conf=$(realpath "${gt_conf:-${conf_prefix}grad_tts.json}")
dw_conf=$(realpath "${dw_conf:-${conf_prefix}diffwave.json}")

prepare_args=()
if $demo; then
  corpus=data/demo/LJSpeech-1.1
  new_sentences=${new_sentences:-data/demo/new_sentences}
  # a small valid and test split: the held-out new_sentences are the demo's main test
  prepare_args=(--valid-share 0.005 --test-share 0.007)
  # the Griffin-Lim guide of each clip costs the vocoder's thread ~0.1 s per second of audio
  vocoder_clips=${vocoder_clips:-400}
  # the vocoder learns Grad-TTS's own smooth mels in its last 6 of 22 minutes (docs/experiments.md)
  finetune_share=${finetune_share:-0.27}
else
  corpus=${data:-data/LJSpeech-1.1}
fi

if run_stage 0 && ! skip_done 0 "data"; then
  if $demo; then
    "$python" "$here/local/make_demo_corpus.py" "$corpus" --held-out "$new_sentences"
  elif [ ! -f "$corpus/metadata.csv" ]; then
    if [ -n "$data" ]; then
      echo "run.sh: $data has no metadata.csv: --data must point at an LJSpeech-1.1 folder (metadata.csv, wavs/)" >&2
      exit 1
    fi
    log "downloading LJSpeech-1.1 (2.6 GB)"
    mkdir -p data
    if ! curl -fL --retry 2 -o data/LJSpeech-1.1.tar.bz2 https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2; then
      echo "run.sh: could not download LJSpeech. Download LJSpeech-1.1.tar.bz2 elsewhere, unpack it, and run" >&2
      echo "        bash recipes/ljspeech/run.sh --data /path/to/LJSpeech-1.1   (or try the no-download --demo)" >&2
      exit 1
    fi
    tar -xjf data/LJSpeech-1.1.tar.bz2 -C data
  fi
  mark_done 0
fi

if run_stage 1 && ! skip_done 1 "prepare"; then
  "$python" "$here/local/prepare.py" "$corpus" "$prepared" ${split_dir:+--split-dir "$split_dir"} \
    ${new_sentences:+--held-out "new_sentences=$new_sentences"} ${prepare_args[@]+"${prepare_args[@]}"}
  mark_done 1
fi

set_budget

seed_args=()
[ -n "$seed" ] && seed_args=(--set "train.seed=$seed")
train_grad_tts() {
  trainer grad_tts.train "$prepared/train.txt" --valid "$prepared/valid.txt" --out "$exp/grad_tts" \
    --config "$gt_conf" --cache-dir data/cache --resume ${gt_budget[@]+"${gt_budget[@]}"} \
    ${seed_args[@]+"${seed_args[@]}"} "$@"
}
train_diffwave() {
  # The vocoder learns the acoustic model's features: from its checkpoint when there is one (else
  # the DiffWave config's own mel settings, which synthesize.py checks against the acoustic model's)
  local mel_from=() clips="$prepared/train.txt"
  [ -f "$exp/grad_tts/last.pt" ] && mel_from=(--mel-from "$exp/grad_tts/last.pt")
  if [ -n "$vocoder_clips" ]; then
    clips="$prepared/train_vocoder.txt"
    head -n "$vocoder_clips" "$prepared/train.txt" > "$clips"
  fi
  local common=("$clips" --valid "$(head -n1 "$prepared/valid.txt" | cut -d'|' -f1)" --config "$dw_conf"
                --cache-dir data/cache --resume ${seed_args[@]+"${seed_args[@]}"})
  local share=${finetune_share:-0}
  if awk -v s="$share" 'BEGIN { exit !(s > 0) }' && [ -z "${dw_minutes:-}" ]; then
    log "--vocoder-finetune $share needs a budget in minutes (--minutes): the vocoder learns the recordings only"
    share=0
  fi
  if awk -v s="$share" 'BEGIN { exit !(s <= 0) }'; then
    trainer diffwave.train "${common[@]}" --out "$exp/diffwave" ${mel_from[@]+"${mel_from[@]}"} \
      ${dw_budget[@]+"${dw_budget[@]}"} "$@"
    return
  fi
  # In two phases: the recordings' mels, then (the last share of the minutes) the acoustic model's
  # teacher-forced mels of the same clips, which are what the vocoder hears in synthesis. The parallel
  # schedule takes the Grad-TTS checkpoint written last by then.
  local first=$(awk -v m="$dw_minutes" -v s="$share" 'BEGIN { printf "%.2f", m * (1 - s) }')
  local second=$(awk -v m="$dw_minutes" -v f="$first" 'BEGIN { printf "%.2f", m - f }')
  trainer diffwave.train "${common[@]}" --out "$exp/diffwave_recordings" ${mel_from[@]+"${mel_from[@]}"} \
    --set "train.max_minutes=$first" "$@"
  # (the parallel schedule's Grad-TTS may not have written its first checkpoint yet in a short run)
  while [ ! -f "$exp/grad_tts/last.pt" ] && [ -n "${gt_pid:-}" ] && kill -0 "$gt_pid" 2>/dev/null; do sleep 2; done
  if [ ! -f "$exp/grad_tts/last.pt" ]; then
    echo "run.sh: no Grad-TTS checkpoint to teacher-force with yet; the vocoder learns the recordings only" >&2
    rm -rf "$exp/diffwave" && cp -r "$exp/diffwave_recordings" "$exp/diffwave"
    return
  fi
  log "vocoder: $second of its minutes on the teacher-forced mels of $exp/grad_tts/last.pt"
  rm -rf "$exp/teacher_forced"
  "$python" -m grad_tts.teacher_force "$exp/grad_tts/last.pt" "$clips" --out "$exp/teacher_forced" \
    --cache-dir data/cache
  trainer diffwave.train "${common[@]}" --out "$exp/diffwave" --mel-from "$exp/grad_tts/last.pt" \
    --mels "$exp/teacher_forced" --init-from "$exp/diffwave_recordings/last.pt" --set "train.max_minutes=$second" "$@"
}

if [ "$schedule" = parallel ] && run_stage 2 && run_stage 3 && [ ! -f "$(done_marker 2)" ] && [ ! -f "$(done_marker 3)" ]; then
  log "stages 2 and 3: train Grad-TTS and DiffWave at once, one thread each (Grad-TTS log: $exp/grad_tts.log)"
  mkdir -p "$exp"
  OMP_NUM_THREADS=1 train_grad_tts --no-progress > "$exp/grad_tts.log" 2>&1 &
  gt_pid=$!
  rc=0
  OMP_NUM_THREADS=1 train_diffwave || rc=$?
  wait "$gt_pid" || { echo "run.sh: Grad-TTS training failed; see $exp/grad_tts.log" >&2; exit 1; }
  [ "$rc" -eq 0 ] || exit "$rc"
  mark_done 2
  mark_done 3
fi

if run_stage 2 && ! skip_done 2 "train Grad-TTS"; then
  train_grad_tts
  mark_done 2
fi

if run_stage 3 && ! skip_done 3 "train DiffWave"; then
  train_diffwave
  mark_done 3
fi

# The test splits: the held-out new_sentences first (the demo's), then the corpus's own test split.
splits=()
[ -f "$prepared/new_sentences_lines.txt" ] && splits+=(new_sentences)
splits+=(test)

if run_stage 4 && ! skip_done 4 "synthesize"; then
  # The two vocoders at once, half of the cores each. synthesize.py exits 1 when some lines failed (they
  # are reported) and 2 when it could not start.
  threads=$(( $(nproc) / 2 > 0 ? $(nproc) / 2 : 1 ))
  synthesize_all() {
    local vocoder=$1 name=$2 split lines rc
    for split in "${splits[@]}" lines; do
      lines=$([ "$split" = lines ] && echo "$here/lines.txt" || echo "$prepared/${split}_lines.txt")
      rc=0
      "$python" "$repo/synthesize.py" -f "$lines" -o "$exp/synth/${split}_$name" --threads "$threads" \
        --acoustic "$exp/grad_tts/last.pt" --vocoder "$vocoder" --batch-size 4 --save-mels || rc=$?
      [ "$rc" -le 1 ] || return "$rc"
    done
  }
  synthesize_all griffin-lim griffin_lim & griffin_lim_pid=$!
  synthesize_all "$exp/diffwave/last.pt" diffwave & diffwave_pid=$!
  rc=0; wait "$griffin_lim_pid" || rc=$?; wait "$diffwave_pid" || rc=$?
  [ "$rc" -eq 0 ] || exit "$rc"
  if $demo; then
    rm -rf out && mkdir -p out && cp -r "$exp/synth/lines_diffwave" out/diffwave && cp -r "$exp/synth/lines_griffin_lim" out/griffin_lim
  fi
  mark_done 4
fi

if run_stage 5 && ! skip_done 5 "evaluate"; then
  if "$python" -c "import pocketsphinx, jiwer, pystoi, pesq, matplotlib, scipy, speechmos, onnxruntime" 2>/dev/null; then
    # one evaluation per split (exp/eval/SPLIT/), at once (each is mostly one thread of recognition)
    pids=()
    for split in "${splits[@]}"; do
      title=$([ "$split" = test ] && echo "the corpus's test split" ||
              echo "$split (sentences written apart from the training text; none of their content words is in it)")
      copy=(); [ "$split" = test ] && copy=(--vocoder "$exp/diffwave/last.pt")
      "$python" -m gradwave.evaluation.evaluate --out "$exp/eval/$split" --truth "$prepared/$split.txt" --title "$title" \
        --synth "grad_tts+griffin_lim=$exp/synth/${split}_griffin_lim" --synth "grad_tts+diffwave=$exp/synth/${split}_diffwave" \
        ${copy[@]+"${copy[@]}"} > "$exp/eval_$split.log" 2>&1 &
      pids+=($!)
    done
    for k in "${!pids[@]}"; do
      wait "${pids[$k]}" || { echo "run.sh: evaluating ${splits[$k]} failed; see $exp/eval_${splits[$k]}.log" >&2; exit 1; }
    done
    # exp/eval/report.md puts their reports together, new_sentences first
    { echo "# Evaluation"; echo
      for split in "${splits[@]}"; do
        sed -e "s#](plots/#]($split/plots/#" -e 's/^# /## /' -e 's/^## Mel/### Mel/' "$exp/eval/$split/report.md"; echo
      done; } > "$exp/eval/report.md"
    mark_done 5
  else
    log "stage 5 skipped: the evaluation needs the eval extra (pip install -e '$repo[eval]', or scripts/setup.sh);"
    log "  then run again with --stage 5"
  fi
fi

log "finished in $(( $(date +%s) - start_time )) s"
if $demo && [ -d out ]; then log "demo audio: $work/out/diffwave/*.wav and $work/out/griffin_lim/*.wav (manifest.tsv beside them)"; fi
if [ -f "$exp/eval/report.md" ]; then
  log "evaluation ($exp/eval/report.md):"
  grep -E '^## Evaluation|^\| (system|grad_tts|recordings)' "$exp/eval/report.md"
fi
