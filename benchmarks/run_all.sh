#!/usr/bin/env bash
# Re-run every speed benchmark in turn (each alone on the machine) and keep their JSON and logs.
# Usage: bash benchmarks/run_all.sh [--skip-decode]   (from a clone; pip install -e ".[all]" first)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # works from a clone with or without pip install
out=benchmarks/results
mkdir -p "$out"
run() { local name=$1; shift; echo "== $name"; "$@" 2>&1 | grep -v '%|' | tee "$out/$name.log"; }
[ "${1:-}" = "--skip-decode" ] || run decode python benchmarks/bench_decode.py --repeats 3 --json "$out/decode.json"
run synth python benchmarks/bench_synth.py --json "$out/synth.json"
run evaluate python benchmarks/bench_evaluate.py --json "$out/evaluate.json"
run separation_metrics python -m benchmarks.bench_separation_metrics
run localize python benchmarks/bench_localize.py --json "$out/localize.json"
run inference python benchmarks/bench_inference.py --model default --decode-ahead 0 2 --json "$out/inference.json"
run training python benchmarks/bench_training.py
