#!/usr/bin/env bash
# SC09 recipe: unconditional DiffWave (spoken digits, 16 kHz, one-second clips) with either backbone.
#
#   bash recipes/sc09/run.sh [--stage N] [--stop-stage M] [--backbone wavenet|sashimi] [--data DIR]
#                            [--demo [--minutes N] [--per-digit N]] [--samples N] [--ngpu N]
#
# Stages (each is skipped when its .done marker exists; an interrupted training stage resumes):
#   0 data      with --demo (or without --data): the ten digit words spoken by flite's and espeak-ng's
#               voices (local/make_digits.py, no download); --data DIR: your SC09 clips (a folder of wavs)
#   1 train     exp/BACKBONE/last.pt (conf/demo_BACKBONE.json with --demo, else conf/BACKBONE.json:
#               the seed projects' full-size models, T=200)
#   2 generate  --samples clips with every diffusion step (exp/BACKBONE/generated/)
#   3 evaluate  are they digits? pocketsphinx restricted to the ten digit words, on the generated clips
#               and on the corpus's own clips as the reference (exp/BACKBONE/eval/report.md)
# Python: $PYTHON, else the active virtualenv, else the repository's .venv, else python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
stage=0
stop_stage=3
backbone=wavenet
data=""
demo=false
minutes=""
samples=32
per_digit=40
ngpu=0
work="$repo"
setup=true
conf=""

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage) stop_stage=$2; shift 2 ;;
    --backbone) backbone=$2; shift 2 ;;
    --data) data=$2; shift 2 ;;
    --demo) demo=true; shift ;;
    --minutes) minutes=$2; shift 2 ;;
    --samples) samples=$2; shift 2 ;;
    --per-digit) per_digit=$2; shift 2 ;;
    --ngpu) ngpu=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --no-setup) setup=false; shift ;;
    --conf) conf=$2; shift 2 ;;
    -h|--help) usage; echo "Also: --work DIR, --no-setup (skip scripts/setup.sh), --conf FILE (training config)"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$backbone" in wavenet|sashimi) ;; *) echo "run.sh: --backbone must be wavenet or sashimi" >&2; exit 2 ;; esac
if [ -z "$data" ]; then demo=true; fi

log_name=sc09
source "$repo/recipes/lib.sh"
if $setup; then bash "$repo/scripts/setup.sh"; fi
pick_python

mkdir -p "$work"
cd "$work"
exp=exp/sc09_$backbone
if $demo; then corpus=data/sc09_digits; train_clips=$corpus/train; else corpus=$data; train_clips=$data; fi
conf=$(realpath "${conf:-$here/conf/$($demo && echo demo_)$backbone.json}")
budget=()
[ -n "$minutes" ] && budget=(--set "train.max_minutes=$minutes")

if run_stage 0 && ! skip_done 0 "data"; then
  if $demo; then
    "$python" "$here/local/make_digits.py" "$corpus" --per-digit "$per_digit"
  elif [ ! -d "$data" ]; then
    echo "run.sh: --data $data is not a folder of wavs" >&2; exit 1
  fi
  mark_done 0
fi

if run_stage 1 && ! skip_done 1 "train the $backbone backbone ($conf)"; then
  trainer diffwave.train "$train_clips" --unconditional --config "$conf" --out "$exp" --resume \
    ${budget[@]+"${budget[@]}"}
  mark_done 1
fi

if run_stage 2 && ! skip_done 2 "generate $samples clips"; then
  rm -rf "$exp/generated"
  "$python" -m diffwave.inference "$exp/last.pt" --unconditional -n "$samples" --full -o "$exp/generated"
  mark_done 2
fi

if run_stage 3 && ! skip_done 3 "evaluate"; then
  if ! "$python" -c "import pocketsphinx" 2>/dev/null; then
    log "stage 3 skipped: the evaluation needs the eval extra (pip install -e '$repo[eval]', or scripts/setup.sh)"
    exit 0
  fi
  mkdir -p "$exp/eval"
  "$python" -m gradwave.evaluation.digits "$exp/generated" --out "$exp/eval/generated.json" > /dev/null
  if $demo; then
    for split in train test; do
      "$python" -m gradwave.evaluation.digits "$corpus/$split" --labels "$corpus/$split/labels.txt" \
        --out "$exp/eval/reference_$split.json" > /dev/null
    done
  else
    "$python" -m gradwave.evaluation.digits "$train_clips" --out "$exp/eval/reference_train.json" > /dev/null
  fi
  "$python" "$here/local/report.py" "$exp/eval" "$exp/last.pt" > "$exp/eval/report.md"
  cat "$exp/eval/report.md"
  mark_done 3
fi
