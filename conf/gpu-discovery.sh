#!/usr/bin/env bash
# Spark GPU discovery script (spark.executor.resource.gpu.discoveryScript): prints the machine's
# NVIDIA GPUs as {"name":"gpu","addresses":["0","1",...]}. No GPU (or no nvidia-smi): no addresses.
set -euo pipefail
addresses=""
if command -v nvidia-smi >/dev/null 2>&1; then
  addresses=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | sed 's/ //g' | awk 'NF{printf "%s\"%s\"", (n++ ? "," : ""), $1}')
fi
printf '{"name":"gpu","addresses":[%s]}\n' "$addresses"
