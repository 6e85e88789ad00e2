#!/usr/bin/env bash
# SNIPER's two stages (as the original's scripts/train_neg_props_and_sniper.sh):
#   1. a short RPN-only schedule on positive chips (TRAIN.ONLY_PROPOSAL, 2 epochs by default);
#   2. its proposals at the test scales on every training image set (main_test.py, TEST.EXTRACT_PROPOSALS);
#   3. full SNIPER training with negative chips placed by those proposals.
#
# usage: scripts/train_neg_props_and_sniper.sh --cfg FILE [--prop_save_path DIR] [--prop_train_path DIR]
#                                              [--rpn_epochs N] [--python PY] [--set KEY VALUE ...]
# The --set words (last) apply to all three stages; stage 1's own settings win over them there.
set -euo pipefail
cd "$(dirname "$0")/.."

cfg=""; prop_save="data/computed_proposals"; prop_train="output/sniper_neg_proposals"; rpn_epochs=2
py="${PYTHON:-python}"; [ -x .venv/bin/python ] && py=.venv/bin/python
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cfg) cfg="$2"; shift 2 ;;
    --prop_save_path) prop_save="$2"; shift 2 ;;
    --prop_train_path) prop_train="$2"; shift 2 ;;
    --rpn_epochs) rpn_epochs="$2"; shift 2 ;;
    --python) py="$2"; shift 2 ;;
    --set) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$cfg" ] || { echo "error: --cfg is required (see --help)" >&2; exit 2; }

echo "== stage 1/3: RPN-only training, $rpn_epochs epochs -> $prop_train"
"$py" main_train.py --cfg "$cfg" --set "${extra[@]}" TRAIN.USE_NEG_CHIPS False TRAIN.ONLY_PROPOSAL True \
  TRAIN.end_epoch "$rpn_epochs" output_path "$prop_train"

image_sets=$("$py" -c "import init_paths, sys; from lib.config import load_config; \
print(load_config(sys.argv[1], sys.argv[2:]).dataset.image_set)" "$cfg" "${extra[@]}")
for set in ${image_sets//+/ }; do
  echo "== stage 2/3: proposals on $set -> $prop_save"
  "$py" main_test.py --cfg "$cfg" --set "${extra[@]}" TEST.EXTRACT_PROPOSALS True TEST.PROPOSAL_SAVE_PATH "$prop_save" \
    TEST.TEST_EPOCH "$rpn_epochs" TRAIN.ONLY_PROPOSAL True output_path "$prop_train" dataset.test_image_set "$set"
done

echo "== stage 3/3: SNIPER with negative chips"
"$py" main_train.py --cfg "$cfg" --set proposal_path "$prop_save" TRAIN.USE_NEG_CHIPS True "${extra[@]}"
