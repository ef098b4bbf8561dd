#!/usr/bin/env bash
# Spark GPU discovery script (spark.executor.resource.gpu.discoveryScript): prints the machine's
# NVIDIA GPUs as {"name":"gpu","addresses":["0","1",...]}. No nvidia-smi: no addresses. An
# nvidia-smi that fails (no driver, a driver/library mismatch) also gives no addresses, with its own
# message on stderr (the executor's log): Spark then refuses an executor that asked for a GPU with
# "needs 1 gpu ... found 0", instead of a script that exited with nothing to say.
set -uo pipefail
addresses=""
if command -v nvidia-smi >/dev/null 2>&1; then
  err=$(mktemp)
  if indices=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>"$err"); then
    addresses=$(printf '%s\n' "$indices" | sed 's/ //g' | awk 'NF{printf "%s\"%s\"", (n++ ? "," : ""), $1}')
  else
    status=$?
    echo "gpu-discovery: nvidia-smi failed (exit $status), reporting no GPUs: $(head -c 500 "$err")" >&2
  fi
  rm -f "$err"
fi
printf '{"name":"gpu","addresses":[%s]}\n' "$addresses"
