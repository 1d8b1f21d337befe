# Shared by the recipes' run.sh (sourced after `repo`, `log_name` and, before the stages, `exp`,
# `stage`, `stop_stage` are set): logging, which Python to use, stage markers, the trainer launch.

log() { echo "[$log_name $(date +%H:%M:%S)] $*"; }

# $PYTHON when set, else the active virtualenv, else the repository's .venv (scripts/setup.sh), else
# python3; the repository goes on PYTHONPATH.
pick_python() {
  if [ -n "${PYTHON:-}" ]; then python=$PYTHON
  elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then python="$VIRTUAL_ENV/bin/python"
  elif [ -x "$repo/.venv/bin/python" ]; then python="$repo/.venv/bin/python"
  else python=python3; fi
  log "python: $python"
  export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
}

# Each stage is skipped when its marker exists; a stage that ran to its end leaves one.
done_marker() { echo "$exp/.stage$1.done"; }
run_stage() { [ "$stage" -le "$1" ] && [ "$stop_stage" -ge "$1" ]; }
skip_done() {
  if [ -f "$(done_marker "$1")" ]; then log "stage $1 ($2): done before, skipping (delete $(done_marker "$1") to redo)"; return 0; fi
  log "stage $1: $2"; return 1
}
mark_done() { mkdir -p "$exp"; touch "$(done_marker "$1")"; }

# `trainer MODULE ARGS...`: python -m MODULE, or torchrun with $ngpu processes when ngpu > 1.
trainer() {
  if [ "${ngpu:-0}" -gt 1 ]; then
    "$python" -m torch.distributed.run --standalone --nproc_per_node "$ngpu" -m "$@"
  else
    "$python" -m "$@"
  fi
}
