#!/usr/bin/env bash
# Spark GPU discovery script (spark.executor.resource.gpu.discoveryScript, or spark.worker.* in standalone):
# prints the GPUs this executor may use as Spark's ResourceInformation JSON, e.g.
#   {"name": "gpu", "addresses": ["0","1"]}
# Addresses are CUDA device ordinals as the executor process sees them, the rule udfs/gpu_binding.py and
# udfs/energy/meters.py follow: positions 0..n-1 in CUDA_VISIBLE_DEVICES when the executor's environment sets it
# (up to its first entry that names no GPU here, as CUDA reads it), otherwise nvidia-smi's indices (PCI bus
# order). Run it where an executor sees only its own GPUs (YARN or Kubernetes GPU isolation). No nvidia-smi,
# no GPU, or an empty CUDA_VISIBLE_DEVICES print an empty list; Spark then refuses an executor that asked
# for GPUs.

gpu_indices() {
  command -v nvidia-smi >/dev/null 2>&1 || return 0
  local line
  while read -r line; do
    line="${line//[[:space:]]/}"
    [[ $line =~ ^[0-9]+$ ]] && echo "$line"
  done < <(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null)
}

visible_positions() {  # $1: CUDA_VISIBLE_DEVICES, then the GPUs' indices
  local visible="$1" entry position=0 entries
  shift
  IFS=',' read -ra entries <<< "$visible"
  for entry in "${entries[@]}"; do
    entry="${entry//[[:space:]]/}"
    if [[ $entry =~ ^[0-9]+$ ]]; then
      [[ " $* " == *" $entry "* ]] || break
    elif ! [[ $entry =~ ^(GPU|MIG)-.+$ ]]; then
      break
    fi
    (( position < $# )) || break
    echo "$position"
    position=$((position + 1))
  done
}

mapfile -t gpus < <(gpu_indices)
addresses=()
if (( ${#gpus[@]} > 0 )); then
  if [[ -v CUDA_VISIBLE_DEVICES ]]; then
    mapfile -t addresses < <(visible_positions "$CUDA_VISIBLE_DEVICES" "${gpus[@]}")
  else
    addresses=("${gpus[@]}")
  fi
fi

quoted=()
for address in "${addresses[@]}"; do
  quoted+=("\"$address\"")
done
(IFS=,; printf '{"name": "gpu", "addresses": [%s]}\n' "${quoted[*]}")
