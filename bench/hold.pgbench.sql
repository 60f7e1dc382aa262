-- pgbench script: the writes of one appointment hold, as the PostGIS adapter sends them
-- (PostgisBookingRepository.add_exclusive, then PostgisOutbox.add, in one transaction;
-- statements captured with log_statement=all, literals turned into variables). The caller's
-- set_config travels in one pipeline with BEGIN in the adapter; pgbench sends it on its own.
--
--   pgbench -n -M prepared -f bench/hold.pgbench.sql -D n=0 -D base=0 -D size=100000 ...
--
-- Each client books its own resource (looked up once, in its first transaction) at distinct
-- random times: hour 2 * permute(n, size, client) after `base` hours past 2100-01-01, far
-- from the API's bookings. The booking takes [t, t + 1 h), blocks [t, t + 1.5 h) (a buffer).
\if :n = 0
SELECT r.resource_id, o.id AS offering_id, o.provider_id
  FROM (SELECT DISTINCT ON (resource_id) resource_id, offering_id
          FROM offering_resources ORDER BY resource_id, offering_id) AS r
  JOIN offerings AS o ON o.id = r.offering_id
 ORDER BY r.resource_id OFFSET :client_id LIMIT 1 \gset
\endif
\set hour :base + 2 * permute(:n, :size, :client_id)
\set n :n + 1
BEGIN;
SELECT set_config('app.user_id', '7542ae65-6b5c-4386-9c5a-21045f07d09f', true), set_config('app.provider_ids', '{}', true), set_config('app.all_rows', '', true), set_config('app.key', '', true);
SELECT expire_overlapping_holds(:resource_id::UUID, tstzrange('2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour', '2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour' + interval '90 minutes', '[)'), now());
SAVEPOINT sa_savepoint_1;
INSERT INTO bookings (id, offering_id, provider_id, customer_id, kind, during, blocked, resource_id, occurrence_id, seats, price_minor, currency, status, hold_expires_at, created_at, rescheduled_from, cancelled_at, cancelled_by) VALUES (md5(:client_id::text || '-' || :n::text || '-' || :base::text)::uuid, :offering_id::UUID, :provider_id::UUID, '7542ae65-6b5c-4386-9c5a-21045f07d09f'::UUID, 'appointment', tstzrange('2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour', '2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour' + interval '1 hour', '[)'), tstzrange('2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour', '2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour' + interval '90 minutes', '[)'), :resource_id::UUID, NULL, 1, 11000, 'EUR', 'held', now() + interval '10 minutes', now(), NULL, NULL, NULL);
RELEASE SAVEPOINT sa_savepoint_1;
INSERT INTO outbox (id, name, occurred_at, payload) VALUES (gen_random_uuid(), 'bookings.slot_held', now(), jsonb_build_object('end', '2100-01-01T01:00:00+00:00', 'seats', 1, 'start', '2100-01-01T00:00:00+00:00', 'status', 'held', 'booking_id', md5(:client_id::text || '-' || :n::text || '-' || :base::text), 'customer_id', '7542ae65-6b5c-4386-9c5a-21045f07d09f', 'offering_id', :offering_id::text, 'provider_id', :provider_id::text));
COMMIT;
