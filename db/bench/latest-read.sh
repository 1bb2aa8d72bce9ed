#!/usr/bin/env bash
# Latest value of every attribute of one entity: the projection's read (one
# range scan of entity_latest) against two ways of reading it from history,
# with pgbench.
#   db/bench/latest-read.sh [postgres://postgres@127.0.0.1:5432/postgres] [entities] [days]
# Makes a throwaway database on that server, loads <entities> x 10 attributes x
# <days> days x 24 readings through stage_flush, runs each query for 10 s on
# one client, drops the database.
set -euo pipefail
cd "$(dirname "$0")/../.."
SERVER=${1:-postgres://postgres@127.0.0.1:5432/postgres}
ENTITIES=${2:-2000}
DAYS=${3:-14}
DB=atlas_readbench_$$
URL="${SERVER%/*}/$DB"
PGBENCH=${PGBENCH:-/usr/lib/postgresql/15/bin/pgbench}
T=11111111-1111-1111-1111-111111111111
WORK=$(mktemp -d)
trap 'psql "$SERVER" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)"; rm -rf "$WORK"' EXIT

psql "$SERVER" -qc "CREATE DATABASE $DB"
DATABASE_URL="$URL" npm run -s db:migrate >/dev/null
psql "$URL" -v ON_ERROR_STOP=1 -q <<SQL
INSERT INTO tenants (tenant_id, name) VALUES ('$T', 'readbench');
INSERT INTO attributes (tenant_id, name, data_type, is_hot)
  SELECT '$T', 'a' || i, 'decimal', i <= 2 FROM generate_series(1, 10) i;
DO \$\$ BEGIN PERFORM atlas_ensure_partitions(current_date - $DAYS, current_date); END \$\$;
DO \$\$
DECLARE d int; b uuid;
BEGIN
  FOR d IN 0..$DAYS - 1 LOOP
    b := gen_random_uuid();
    INSERT INTO entity_values_staging
      SELECT b, '$T', e, 'sensor', a.attribute_id,
             date_trunc('day', now()) - (d || ' days')::interval + (h || ' hours')::interval, now(),
             NULL, random() * 100, NULL, NULL, NULL
      FROM generate_series(1, $ENTITIES) e, attributes a, generate_series(0, 23) h;
    PERFORM count(*) FROM stage_flush(b);
  END LOOP;
END \$\$;
VACUUM ANALYZE;
SQL

# What GET /v1/entities/{id} runs (app/query/sql/entities.ts): the entity row and its entity_latest rows.
cat >"$WORK/projection.sql" <<SQL
\set e random(1, $ENTITIES)
SELECT j.entity_id, (SELECT e.entity_type FROM entities e WHERE e.tenant_id = j.tenant_id AND e.entity_id = j.entity_id),
  (SELECT json_object_agg(a.name, json_build_object(
      'value', atlas_value_json(a.data_type, l.value_int, l.value_decimal, l.value_bool, l.value_string, l.value_ts),
      'ts', atlas_iso(l.ts)) ORDER BY a.name)
   FROM entity_latest l JOIN attributes a ON a.tenant_id = l.tenant_id AND a.attribute_id = l.attribute_id
   WHERE l.tenant_id = j.tenant_id AND l.entity_id = j.entity_id), j.updated_at
FROM entity_jsonb j WHERE j.tenant_id = '$T' AND j.entity_id = :e;
SQL
cat >"$WORK/history_distinct_on.sql" <<SQL
\set e random(1, $ENTITIES)
SELECT DISTINCT ON (attribute_id) attribute_id, ts, value_decimal FROM entity_values_ts
WHERE tenant_id = '$T' AND entity_id = :e ORDER BY attribute_id, ts DESC;
SQL
cat >"$WORK/history_per_attribute.sql" <<SQL
\set e random(1, $ENTITIES)
SELECT a.attribute_id, l.ts, l.value_decimal FROM attributes a CROSS JOIN LATERAL (
  SELECT ts, value_decimal FROM entity_values_ts v
  WHERE v.tenant_id = a.tenant_id AND v.entity_id = :e AND v.attribute_id = a.attribute_id
  ORDER BY ts DESC LIMIT 1) l
WHERE a.tenant_id = '$T';
SQL

echo "readings: $(psql "$URL" -Atc 'SELECT count(*) FROM entity_values_ts'), partitions: $(psql "$URL" -Atc 'SELECT count(*) FROM atlas_history_partitions()')"
for q in projection history_per_attribute history_distinct_on; do
  printf '%-24s ' "$q"
  "$PGBENCH" -n -M prepared -T 10 -c 1 -f "$WORK/$q.sql" "$URL" 2>&1 | grep -E "latency average|^tps" | tr '\n' ' '
  echo
done
