-- pgbench: one create of the fixed gauge (bench/gauge/schema.sql) per transaction, one round trip.
\set r random(1, 4611686018427387903)
SELECT * FROM gauge.create_organization('Org ' || lpad(to_hex(:r::bigint), 16, '0'), 'org-' || lpad(to_hex(:r::bigint), 16, '0'),
                                        'created by pgbench', gen_random_uuid());
