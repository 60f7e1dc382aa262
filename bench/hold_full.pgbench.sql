-- pgbench script: every statement of one appointment hold (POST /bookings), in the order
-- HoldSlot sends them: the reads that check the slot is offered and free (offering, place,
-- weekly hours, dated exceptions, busy ranges of the resource), then the same writes as
-- hold.pgbench.sql. The database's share of a hold, without any Python.
--
--   pgbench -n -M prepared -f bench/hold_full.pgbench.sql -D n=0 -D base=0 -D size=100000 ...
--
-- Clients, resources and times as in hold.pgbench.sql.
\if :n = 0
SELECT r.resource_id, o.id AS offering_id, o.provider_id, o.place_id
  FROM (SELECT DISTINCT ON (resource_id) resource_id, offering_id
          FROM offering_resources ORDER BY resource_id, offering_id) AS r
  JOIN offerings AS o ON o.id = r.offering_id
 ORDER BY r.resource_id OFFSET :client_id LIMIT 1 \gset
\endif
\set hour :base + 2 * permute(:n, :size, :client_id)
\set n :n + 1
BEGIN;
SELECT set_config('app.user_id', '7542ae65-6b5c-4386-9c5a-21045f07d09f', true), set_config('app.provider_ids', '{}', true), set_config('app.all_rows', '', true), set_config('app.key', '', true);
SELECT offerings.id, offerings.provider_id, offerings.place_id, offerings.kind, offerings.name, offerings.category, offerings.price_minor, offerings.currency, offerings.duration, offerings.slot_step, offerings.buffer_before, offerings.buffer_after, offerings.lead_time, offerings.horizon, offerings.capacity, array((SELECT offering_resources.resource_id
FROM offering_resources
WHERE offering_resources.offering_id = offerings.id ORDER BY offering_resources.position)) AS resource_ids
FROM offerings
WHERE offerings.id = :offering_id::UUID;
SELECT places.id AS id, places.provider_id AS provider_id, places.name AS name, places.line1 AS line1, places.city AS city, places.postal_code AS postal_code, places.country AS country, places.timezone AS timezone, ST_Y(geometry(places.location)) AS lat, ST_X(geometry(places.location)) AS lng
FROM places
WHERE places.id = :place_id::UUID;
SELECT opening_hours.place_id, opening_hours.weekday, opening_hours.opens, opening_hours.closes
FROM opening_hours
WHERE opening_hours.place_id = :place_id::UUID ORDER BY opening_hours.weekday, opening_hours.opens;
SELECT opening_exceptions.day, opening_exception_intervals.opens, opening_exception_intervals.closes
FROM opening_exceptions LEFT OUTER JOIN opening_exception_intervals ON opening_exceptions.place_id = opening_exception_intervals.place_id AND opening_exceptions.day = opening_exception_intervals.day
WHERE opening_exceptions.place_id = :place_id::UUID ORDER BY opening_exceptions.day, opening_exception_intervals.opens;
SELECT booking_occupancy.resource_id, booking_occupancy.blocked
FROM booking_occupancy
WHERE booking_occupancy.resource_id IN (:resource_id::UUID) AND booking_occupancy.blocked && tstzrange('2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour' - interval '150 minutes', '2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour' + interval '150 minutes', '[)') AND booking_occupancy.status IN ('held', 'confirmed') AND (booking_occupancy.status = 'confirmed' OR booking_occupancy.hold_expires_at > now()) ORDER BY booking_occupancy.resource_id, booking_occupancy.blocked;
SELECT expire_overlapping_holds(:resource_id::UUID, tstzrange('2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour', '2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour' + interval '90 minutes', '[)'), now());
SAVEPOINT sa_savepoint_1;
INSERT INTO bookings (id, offering_id, provider_id, customer_id, kind, during, blocked, resource_id, occurrence_id, seats, price_minor, currency, status, hold_expires_at, created_at, rescheduled_from, cancelled_at, cancelled_by) VALUES (md5('full-' || :client_id::text || '-' || :n::text || '-' || :base::text)::uuid, :offering_id::UUID, :provider_id::UUID, '7542ae65-6b5c-4386-9c5a-21045f07d09f'::UUID, 'appointment', tstzrange('2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour', '2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour' + interval '1 hour', '[)'), tstzrange('2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour', '2100-01-01 00:00+00'::timestamptz + :hour::int * interval '1 hour' + interval '90 minutes', '[)'), :resource_id::UUID, NULL, 1, 11000, 'EUR', 'held', now() + interval '10 minutes', now(), NULL, NULL, NULL);
RELEASE SAVEPOINT sa_savepoint_1;
INSERT INTO outbox (id, name, occurred_at, payload) VALUES (gen_random_uuid(), 'bookings.slot_held', now(), jsonb_build_object('end', '2100-01-01T01:00:00+00:00', 'seats', 1, 'start', '2100-01-01T00:00:00+00:00', 'status', 'held', 'booking_id', md5('full-' || :client_id::text || '-' || :n::text || '-' || :base::text), 'customer_id', '7542ae65-6b5c-4386-9c5a-21045f07d09f', 'offering_id', :offering_id::text, 'provider_id', :provider_id::text));
COMMIT;
