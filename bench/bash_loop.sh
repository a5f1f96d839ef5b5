#!/usr/bin/env bash
# The source article's fan-out / poll / join loop for agy, as the article shows it, for the
# side-by-side benchmark in bench/bench_agy.py. Only three things differ from the article:
#   - the tasks come from a file (one "label|task text|model" per line) instead of an inline array;
#   - each "done:" line starts with the epoch time it was noticed (to measure detection latency);
#   - failed-job logs go to $LOG_DIR (default: a temporary folder) instead of $HOME/agy-night.
# Usage: bench/bash_loop.sh TASKFILE     (needs agy and jq on PATH)
set -euo pipefail

TASKFILE=${1:?usage: bash_loop.sh TASKFILE}
LOG_DIR=${LOG_DIR:-$(mktemp -d)}

declare -a TASKS=()
while IFS= read -r line; do
  [[ -n "$line" ]] && TASKS+=("$line")
done < "$TASKFILE"

# fan-out: submit every task detached, remember label -> job ID
declare -a JOB_IDS=()
declare -A JOB_LABEL=()
for entry in "${TASKS[@]}"; do
  label="${entry%%|*}"
  rest="${entry#*|}"
  task="${rest%%|*}"
  model="${rest##*|}"
  jid=$(agy run --detach --json --task "$task" --model "$model" | jq -r '.job_id')
  JOB_IDS+=("$jid")
  JOB_LABEL["$jid"]="$label"
  echo "fan-out: $label -> $jid"
done

# poll: exponential backoff from 2 s, capped at 30 s, one `agy jobs get` per unsettled job
poll_interval=2
max_interval=30
deadline=$(( $(date +%s) + 3600 ))
declare -A FINAL_STATE=()
while :; do
  remaining=0
  for jid in "${JOB_IDS[@]}"; do
    [[ -n "${FINAL_STATE[$jid]:-}" ]] && continue
    state=$(agy jobs get "$jid" --json | jq -r '.state')
    case "$state" in
      succeeded|failed|cancelled)
        FINAL_STATE["$jid"]="$state"
        echo "$(date +%s.%N) done: ${JOB_LABEL[$jid]} -> $state ($jid)"
        ;;
      *) remaining=$((remaining + 1)) ;;
    esac
  done
  [[ "$remaining" -eq 0 ]] && break
  if (( $(date +%s) > deadline )); then
    echo "timeout: cancelling $remaining job(s)"
    for jid in "${JOB_IDS[@]}"; do
      [[ -z "${FINAL_STATE[$jid]:-}" ]] && agy jobs cancel "$jid" >/dev/null 2>&1 || true
    done
    break
  fi
  sleep "$poll_interval"
  poll_interval=$(( poll_interval * 2 ))
  (( poll_interval > max_interval )) && poll_interval=$max_interval
done

# join: succeeded / failed / timed out are told apart; exit 0 all good, 1 wipeout, 2 partial
ok=0; failed=0; timed_out=0
declare -a FAILED_LABELS=()
for jid in "${JOB_IDS[@]}"; do
  st="${FINAL_STATE[$jid]:-timeout}"
  case "$st" in
    succeeded) ok=$((ok + 1)) ;;
    failed|cancelled)
      failed=$((failed + 1))
      FAILED_LABELS+=("${JOB_LABEL[$jid]}")
      agy jobs logs "$jid" --tail 40 >> "$LOG_DIR/failed-$jid.log" 2>&1 || true
      ;;
    timeout)
      timed_out=$((timed_out + 1))
      FAILED_LABELS+=("${JOB_LABEL[$jid]} (timeout)")
      ;;
  esac
done
echo "join: ok=$ok failed=$failed timeout=$timed_out"
if (( ok == ${#JOB_IDS[@]} )); then
  exit 0
elif (( ok == 0 )); then
  exit 1
else
  printf 'partial failures:\n'; printf '  - %s\n' "${FAILED_LABELS[@]}"
  exit 2
fi
