#!/usr/bin/env bash
# make demo: generate a lab disk (GPT: EFI, MSR, a sysprepped Windows on
# NTFS, recovery), let the agent capture it unattended from a
# WDSCapture.inf exactly as on a reference PC, and show the result.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN=${BIN:-bin/wdscapture}
DEMO="$BUILD/demo"
mkdir -p "$DEMO"
DEMO=$(cd "$DEMO" && pwd)

echo "== generating the lab disk $DEMO/lab.img"
go run ./internal/lab/cmd/mklab -o "$DEMO/lab.img"

echo
echo "== wdscapture scan (what the agent sees)"
"$BIN" scan --no-devices "$DEMO/lab.img"

cat > "$DEMO/WDSCapture.inf" <<INF
[Capture]
Unattended=Yes
VolumeToCapture=C:\\
ImageName=Lab reference image
ImageDescription=Captured by make demo
DestinationFile=$DEMO/lab.wim
Overwrite=Yes
Compression=XPRESS
CheckIntegrity=Yes
INF
echo
echo "== unattended capture driven by $DEMO/WDSCapture.inf"
"$BIN" --inf "$DEMO/WDSCapture.inf" --disk "$DEMO/lab.img" --no-devices

echo
echo "== the image"
"$BIN" info "$DEMO/lab.wim" 1 --xml
if command -v wimverify >/dev/null 2>&1; then
  echo
  echo "== wimlib's opinion"
  wimverify "$DEMO/lab.wim" | tr '\r' '\n' | grep -v '^Verifying' | grep -v '^$' 
fi
echo
echo "demo done: $DEMO/lab.wim (log: $DEMO/lab.wim.log)"
