-- pgbench script: the writes of one appointment hold when a hold is one call of
-- `hold_booking(new_booking jsonb, candidate_resources uuid[], decided_version bigint,
-- at timestamptz, outbox_events jsonb)` (issue 11, migration 0020), sent as the API sends it
-- (adapters/postgis/one_trip.py): BEGIN, the caller's set_config, the call and COMMIT in one
-- pipeline, one round trip.
--
-- Written against the signature of branch "holds" (commit 9bd54ae). bench/load.py picks this
-- script when the migrated database has that function (HOLD_FUNCTION_SCRIPTS); if the
-- signature changes, change the SELECT below (and the signature there) to match.
--
--   pgbench -n -M prepared -f bench/hold_booking.pgbench.sql -D n=0 -D base=0 -D size=100000 ...
--
-- Clients, resources and times as in hold.pgbench.sql: each client books its own resource at
-- distinct random hours after `base` hours past 2100-01-01, [t, t + 1 h), blocking
-- [t, t + 1.5 h). The booking and its event are JSON, as the core builds them; the function
-- answers with an outcome rather than an error, so bench/load.py counts the bookings made.
\if :n = 0
SELECT r.resource_id, o.id AS offering_id, o.provider_id, p.catalog_version
  FROM (SELECT DISTINCT ON (resource_id) resource_id, offering_id
          FROM offering_resources ORDER BY resource_id, offering_id) AS r
  JOIN offerings AS o ON o.id = r.offering_id
  JOIN places AS p ON p.id = o.place_id
 ORDER BY r.resource_id OFFSET :client_id LIMIT 1 \gset
\endif
\set hour :base + 2 * permute(:n, :size, :client_id)
\set n :n + 1
\startpipeline
BEGIN;
SELECT set_config('app.user_id', '7542ae65-6b5c-4386-9c5a-21045f07d09f', true), set_config('app.provider_ids', '{}', true), set_config('app.all_rows', '', true), set_config('app.key', '', true);
SELECT outcome, held_resource, seats_left FROM hold_booking(jsonb_build_object('id', md5(:client_id::text || '-' || :n::text || '-' || :base::text)::uuid, 'offering_id', :offering_id::uuid, 'provider_id', :provider_id::uuid, 'customer_id', '7542ae65-6b5c-4386-9c5a-21045f07d09f'::uuid, 'kind', 'appointment', 'during', tstzrange('2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour', '2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour' + interval '1 hour', '[)'), 'blocked', tstzrange('2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour', '2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour' + interval '90 minutes', '[)'), 'resource_id', :resource_id::uuid, 'seats', 1, 'price_minor', 11000, 'currency', 'EUR', 'status', 'held', 'hold_expires_at', now() + interval '10 minutes', 'created_at', now()), ARRAY[:resource_id::uuid], :catalog_version::bigint, now(), jsonb_build_array(jsonb_build_object('id', gen_random_uuid(), 'name', 'bookings.slot_held', 'occurred_at', now(), 'payload', jsonb_build_object('booking_id', md5(:client_id::text || '-' || :n::text || '-' || :base::text)::uuid, 'offering_id', :offering_id::text, 'provider_id', :provider_id::text, 'customer_id', '7542ae65-6b5c-4386-9c5a-21045f07d09f', 'start', '2100-01-01T00:00:00+00:00', 'end', '2100-01-01T01:00:00+00:00', 'seats', 1, 'status', 'held', 'rescheduled_from', NULL))));
COMMIT;
\endpipeline
