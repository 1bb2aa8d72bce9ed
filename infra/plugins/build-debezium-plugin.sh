#!/usr/bin/env bash
# Builds the MSK Connect custom plugin zip (atlas:debeziumPluginZip):
#   the Debezium PostgreSQL connector (Maven Central) + the AWS Secrets Manager
#   config provider (aws-samples/msk-config-providers), so the connector can read
#   the database password as ${secretsmanager:<arn>:password}.
# Run from the repository root before `pulumi preview/up` (CI does).
set -euo pipefail
DEBEZIUM_VERSION="${DEBEZIUM_VERSION:-3.3.1.Final}"
PROVIDERS_VERSION="${PROVIDERS_VERSION:-0.4.0}"
OUT="${1:-infra/plugins/debezium-postgres.zip}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/plugin"

curl -fsSL "https://repo1.maven.org/maven2/io/debezium/debezium-connector-postgres/${DEBEZIUM_VERSION}/debezium-connector-postgres-${DEBEZIUM_VERSION}-plugin.tar.gz" \
  | tar -xz -C "$work/plugin"
curl -fsSL -o "$work/plugin/msk-config-providers-${PROVIDERS_VERSION}-all.jar" \
  "https://github.com/aws-samples/msk-config-providers/releases/download/r${PROVIDERS_VERSION}/msk-config-providers-${PROVIDERS_VERSION}-all.jar"

mkdir -p "$(dirname "$OUT")"
out_abs="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
rm -f "$out_abs"
(cd "$work/plugin" && zip -qr "$out_abs" .)
echo "wrote $OUT ($(du -h "$OUT" | cut -f1))"
