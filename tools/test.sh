#!/usr/bin/env bash
# Install everything the test suite needs, then run it. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages, in one apt-get install for whatever is missing: DCMTK's tools, and Orthanc
# with its DICOMweb plugin (the peer of tests/interop/web/test_orthanc_dicomweb.py, which starts its
# own Orthanc on free ports).
packages=()
command -v dcmdump >/dev/null 2>&1 || packages+=(dcmtk)
# dicom3tools' dciodvfy: the independent IOD validator for what dicomkit creates (SR, SEG…)
command -v dciodvfy >/dev/null 2>&1 || packages+=(dicom3tools)
# GDCM's gdcmgendir and gdcmanon: independent DICOMDIR writer and Basic Profile de-identifier
# (tests/interop/media, tests/deid/test_references.py)
command -v gdcmanon >/dev/null 2>&1 || packages+=(libgdcm-tools)
# Debian's chromium: the browser of the Playwright tests (tests/support/browser.py), as
# Playwright's own browser download is not available
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
# poppler's pdftoppm and pdfimages: the printed films' PDFs read back by an independent reader
command -v pdftoppm >/dev/null 2>&1 || packages+=(poppler-utils)
# Node and npm: the web UI's type check and unit tests (vitest) below; the UI's built files are
# committed, so only the tests need them
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
[ -x /usr/sbin/Orthanc ] || packages+=(orthanc)
[ -e /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || packages+=(orthanc-dicomweb)
if [ "${#packages[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  # The orthanc package starts a system service on ports 4242 and 8042 (dicomkit serve's
  # default HTTP port). A policy-rc.d answering 101 ("action forbidden") keeps invoke-rc.d
  # from starting it; should it start all the same, it is stopped below, by its PIDs, and only
  # when no such service ran before (test runs' own Orthancs have other arguments).
  service_pids() { pgrep -f '^/usr/sbin/Orthanc .*/etc/orthanc/?$' || true; }
  orthanc_before="$(service_pids)"
  policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
  fi
  $SUDO apt-get update -qq || true
  status=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${packages[@]}" >/dev/null \
    || status=$?
  if [ -n "$policy" ]; then $SUDO rm -f "$policy"; fi
  [ "$status" = 0 ] || exit "$status"
  started="$(service_pids)"
  if [ -z "$orthanc_before" ] && [ -n "$started" ]; then
    if [ -d /run/systemd/system ]; then $SUDO systemctl stop orthanc >/dev/null 2>&1 || true; fi
    # By PID, not "service orthanc stop": the init script's stop ends every /usr/sbin/Orthanc,
    # test runs' own included.
    for pid in $started; do
      if $SUDO kill -0 "$pid" 2>/dev/null; then $SUDO kill "$pid" || true; fi
    done
    for _ in $(seq 60); do
      alive=""
      for pid in $started; do if $SUDO kill -0 "$pid" 2>/dev/null; then alive="$pid"; fi; done
      [ -n "$alive" ] || break
      sleep 0.5
    done
    for pid in $started; do
      if $SUDO kill -0 "$pid" 2>/dev/null; then $SUDO kill -KILL "$pid" || true; fi
    done
  fi
  if [[ " ${packages[*]} " == *" orthanc "* ]]; then
    # Installed for the tests only: not a service to start at boot either.
    $SUDO update-rc.d orthanc disable >/dev/null 2>&1 || true
    if [ -d /run/systemd/system ]; then $SUDO systemctl disable orthanc >/dev/null 2>&1 || true; fi
  fi
fi
python3 -m pip install -q -e '.[test]'
python3 -m ruff check src tests tools bench
python3 -m mypy
(cd web-ui && npm ci --no-audit --no-fund --loglevel=error && npx tsc --noEmit -p . \
  && npx vitest run)
# The whole suite twice: with the compiled core (the installed default), then on the pure-Python
# path it must agree with byte for byte (src/dicomkit/native.py); tests/native compares the two
# directly as well.
python3 -m pytest -n 2 -q "$@"
DICOMKIT_PURE=1 python3 -m pytest -n 2 -q -p no:cacheprovider "$@"
