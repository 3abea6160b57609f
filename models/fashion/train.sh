#!/usr/bin/env bash
# Trains fashion.cfg on Fashion-MNIST with darknet itself and scores it with darknet on
# the 10,000 test images: what models/fashion/README.md reports.
#
#   models/fashion/train.sh [WORK_DIR]     (default .cache/fashion-mnist)
#
# Needs Debian's darknet and dataset-fashion-mnist (apt-get install darknet
# dataset-fashion-mnist) and a built edgefuse (npm run build) for the PNG export.
# Writes models/fashion/fashion.weights and models/fashion/test-500/ (the first 500
# test images, which the tests use). About 8 minutes of one core at nice 19.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mkdir -p "${1:-$repo/.cache/fashion-mnist}" && cd "${1:-$repo/.cache/fashion-mnist}" && pwd)
idx=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}

command -v darknet >/dev/null || { echo "train.sh: darknet not found: apt-get install darknet" >&2; exit 1; }
[ -f "$idx/t10k-images-idx3-ubyte.gz" ] ||
  { echo "train.sh: no Fashion-MNIST in $idx: apt-get install dataset-fashion-mnist" >&2; exit 1; }
[ -f "$repo/dist/dnn/dataset/export-darknet.js" ] || (cd "$repo" && npm run build)

# darknet labels an image by the class names its path contains: the folder must contain none.
while read -r name; do
  case "$work" in *"$name"*) echo "train.sh: $work contains the class name '$name'" >&2; exit 1 ;; esac
done <"$here/fashion.names"

nice -n 19 node "$repo/dist/dnn/dataset/export-darknet.js" "$idx" "$here/fashion.names" "$work"
mkdir -p "$work/backup"
cat >"$work/fashion.data" <<EOF
classes=10
train=$work/train.list
valid=$work/test.list
labels=$here/fashion.names
names=$here/fashion.names
backup=$work/backup
top=5
EOF

started=$SECONDS
nice -n 19 darknet classifier train "$work/fashion.data" "$here/fashion.cfg" >"$work/train.log" 2>&1
echo "trained in $((SECONDS - started)) s: $(grep -E '^[0-9]+, ' "$work/train.log" | tail -1)" >&2
if grep -q "Too many or too few labels" "$work/train.log"; then
  echo "train.sh: darknet found no single label in some paths (see $work/train.log)" >&2
  exit 1
fi
cp "$work/backup/fashion.weights" "$here/fashion.weights"

nice -n 19 darknet classifier valid "$work/fashion.data" "$here/fashion.cfg" "$here/fashion.weights" \
  >"$work/valid.log" 2>&1
echo "darknet on the 10,000 test images: $(grep -E '^[0-9]+: top 1' "$work/valid.log" | tail -1)"

rm -rf "$here/test-500"
mkdir -p "$here/test-500"
head -500 "$work/test.list" | xargs cp -t "$here/test-500"
