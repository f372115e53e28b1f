#!/usr/bin/env bash
# The main job end to end on the sample models: train, pack, inspect.
# Usage: sample_models/demo.sh VENV_BIN   (run by `make demo`; MODELPACK_HOME is set by make)
set -euo pipefail
bin=${1:?usage: demo.sh VENV_BIN}
here=$(cd "$(dirname "$0")" && pwd)
build="$here/build"
mp="$bin/modelpack"
step() { printf '\n== %s\n' "$*"; }

step "train the sample models"
"$bin/python" "$here/train.py" --out "$build"

step "pack: iris classifier (DataFrame with named columns, CSV sample)"
"$mp" pack "$build/iris/model.joblib" --sample "$build/iris/sample.csv" \
  --output "$build/packed/iris" --name iris --description "RandomForest on the iris measurements" --force

step "pack: wifi_scoring_model (pipeline over mixed features) from CSV, Parquet and JSON samples"
"$mp" pack "$build/wifi/model.joblib" --sample "$build/wifi/sample.csv" \
  --output "$build/packed/wifi_scoring_model" --name wifi_scoring_model --metadata team=network --force
"$mp" pack "$build/wifi/model.joblib" --sample "$build/wifi/sample.parquet" \
  --output "$build/packed/wifi_from_parquet" --name wifi_scoring_model --force
"$mp" pack "$build/wifi/model.joblib" --sample "$build/wifi/sample.json" \
  --output "$build/packed/wifi_from_json" --name wifi_scoring_model --force

step "pack: regressor trained on a numpy array (NPY sample)"
"$mp" pack "$build/regressor/model.joblib" --sample "$build/regressor/sample.npy" \
  --output "$build/packed/regressor" --name regressor --force

step "pack: a custom Python model from a file reference (generic flavor)"
"$mp" pack "$here/custom_model.py:build" --sample "$build/wifi/sample.csv" \
  --output "$build/packed/signal_quality" --name signal_quality --force

for m in iris wifi_scoring_model regressor signal_quality; do
  step "inspect $m"
  "$mp" inspect "$build/packed/$m"
done

for m in iris wifi_scoring_model regressor; do
  step "validate $m"
  "$mp" validate "$build/packed/$m"
done

step "validate signal_quality: refused, its class travels as code the static scan cannot clear"
# A previous run trusted this very content (a re-pack gives the same bytes): start from untrusted.
"$mp" trust "$build/packed/signal_quality" --remove >/dev/null 2>&1 || true
code=0
"$mp" validate "$build/packed/signal_quality" --no-load || code=$?
[ "$code" -eq 3 ] || { echo "expected exit 3, got $code"; exit 1; }

step "trust signal_quality's exact content (we built it), then it validates and scores"
"$mp" trust "$build/packed/signal_quality"
"$mp" validate "$build/packed/signal_quality" --data "$build/wifi/sample.csv"
"$mp" predict "$build/packed/signal_quality" --data "$build/wifi/sample.csv" --output "$build/signal_quality.csv" --force

step "predict: wifi_scoring_model on score.csv (20,000 rows, streamed)"
"$mp" predict "$build/packed/wifi_scoring_model" --data "$build/wifi/score.csv" --output "$build/predictions.csv" --force

step "register the packed samples (a re-run registers nothing new: packing is reproducible)"
count_versions() {
  for m in iris wifi_scoring_model regressor; do
    "$mp" list "$m" --field version 2>/dev/null || true
  done | wc -l
}
before=$(count_versions)
for m in iris wifi_scoring_model regressor; do
  "$mp" register "$build/packed/$m" --name "$m" --description "sample $m" --tag source=demo
done
"$mp" register "$build/packed/wifi_from_parquet" --name wifi_scoring_model --description "packed from the Parquet sample"
after=$(count_versions)
if [ "$before" -gt 0 ] && [ "$after" -ne "$before" ]; then
  echo "error: this re-run registered $((after - before)) new versions; the re-packed folders differ from the last run's"
  exit 1
fi

step "promote: wifi_scoring_model v1 to Production, v2 to Staging, alias champion -> v1"
"$mp" promote wifi_scoring_model 1 --stage Production
"$mp" promote wifi_scoring_model 2 --stage Staging
"$mp" promote wifi_scoring_model 1 --alias champion
"$mp" promote iris 1 --stage Production

step "list the registry, then one model's versions and history"
"$mp" list
"$mp" list wifi_scoring_model
"$mp" history wifi_scoring_model

step "diff the Production and Staging versions of wifi_scoring_model"
"$mp" diff models:/wifi_scoring_model/Production models:/wifi_scoring_model/Staging

step "promote Staging to Production behind the compatibility gate (v1 moves to Archived)"
"$mp" promote wifi_scoring_model 2 --stage Production --require-compatible

step "validate and inspect by registry URI"
"$mp" validate models:/wifi_scoring_model@champion --data "$build/wifi/sample.parquet"
"$mp" inspect models:/wifi_scoring_model/latest --json > "$build/latest.json"
echo "inspect --json written to $build/latest.json"

step "score data with models:/wifi_scoring_model/Production"
"$mp" predict models:/wifi_scoring_model/Production --data "$build/wifi/score.csv" \
  --output "$build/scores_production.parquet" --force
echo "demo complete: packed folders in $build/packed, registry in ${MODELPACK_HOME:-~/.modelpack}"
