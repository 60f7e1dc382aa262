-- wrk script: replays pre-computed requests and counts response statuses.
--
--   wrk -t T -c C -d 20s -s bench/replay.lua URL -- REQUESTS_FILE T
--
-- REQUESTS_FILE has one request a line: METHOD <tab> PATH <tab> BEARER TOKEN <tab> JSON BODY
-- (token and body may be empty). Thread k of T sends lines k, k+T, k+2T, ... in order, so no
-- two threads send the same request (unless the file has fewer lines than threads); a thread
-- that runs out starts again from its first line and counts a wrap (for bookings a wrap means
-- repeated slots, hence 409s: the report says so).
-- done() prints one line, "WRK_JSON {...}", that bench/run.py parses.
--
-- Open-loop pacing: with REPLAY_RATE set (environment; requests a second, all threads
-- together), requests are released on a schedule, not when answers come back: each thread
-- draws release times with exponential gaps (a Poisson process of rate REPLAY_RATE / T), and a
-- free connection waits for the next release. wrk is closed-loop underneath (one request in
-- flight per connection, and delay() is asked per thread, not per connection), so the schedule
-- holds only while some connection is free when a release falls due; a release that finds all
-- connections busy goes out late. Each release's lateness (send time minus release time) is
-- recorded: near zero means the load was truly offered at REPLAY_RATE and wrk's latencies
-- (measured from the send) are the users' latencies; a large lateness means the server did not
-- keep up, and the users' wait is that lateness plus the latency.

local threads = {}
local rate = tonumber(os.getenv("REPLAY_RATE") or "0")
local LATE_MS = 10  -- a release sent this much behind schedule counts as late

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } replay_timespec;
  int clock_gettime(int clock_id, replay_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local clock = ffi.new("replay_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

if rate > 0 then
  -- Called before each request of each connection: when should it go? The next release.
  function delay()
    -- The schedule starts with the first connection ready, not while wrk is still connecting.
    next_release = (next_release or now_ms()) - mean_gap_ms * math.log(1 - math.random())
    release_count = release_count + 1
    releases[release_count] = next_release
    local wait = next_release - now_ms()
    if wait <= 0 then return 0 end
    return math.floor(wait)
  end
end

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

local function parse(line)
  return line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
end

local function format(line)
  local method, path, token, body = parse(line)
  local headers = {}
  if token ~= "" then headers["Authorization"] = "Bearer " .. token end
  if body ~= "" then headers["Content-Type"] = "application/json" else body = nil end
  return wrk.format(method, path, headers, body)
end

function init(args)
  local file, thread_count = args[1], tonumber(args[2])
  queue, statuses, wraps, position = {}, {}, 0, 1
  -- Pacing: release times handed out by delay(), consumed in order by request().
  releases, release_count, sent_releases, late, lateness = {}, 0, 0, 0, {}
  mean_gap_ms = rate > 0 and 1000 * thread_count / rate or 0
  math.randomseed(os.time() * 100 + index)
  next_release = nil
  local lines = {}
  for line in io.lines(file) do lines[#lines + 1] = line end
  for n = index + 1, #lines, thread_count do queue[#queue + 1] = format(lines[n]) end
  -- Fewer lines than threads (a single GET, say): every thread sends them all.
  if #queue == 0 then
    for n = 1, #lines do queue[n] = format(lines[n]) end
  end
  if #queue == 0 then error("no requests in " .. file) end
end

-- Timers fire in release order, so the request being sent is the oldest release not sent yet.
local function record_lateness()
  if sent_releases >= release_count then return end  -- wrk's own probe request, before any delay()
  sent_releases = sent_releases + 1
  local behind = now_ms() - releases[sent_releases]
  releases[sent_releases] = nil
  local bucket = math.max(0, math.floor(behind))
  lateness[bucket] = (lateness[bucket] or 0) + 1
  if behind > LATE_MS then late = late + 1 end
end

function request()
  if rate > 0 then record_lateness() end
  local next_request = queue[position]
  position = position + 1
  if position > #queue then
    position = 1
    wraps = wraps + 1
  end
  return next_request
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

-- Percentiles (ms, whole milliseconds) of the merged lateness counts.
local function lateness_json(counts)
  local buckets, total = {}, 0
  for ms, n in pairs(counts) do
    buckets[#buckets + 1] = ms
    total = total + n
  end
  table.sort(buckets)
  local cuts, found, seen = {50, 90, 99}, {}, 0
  local next_cut = 1
  for _, ms in ipairs(buckets) do
    seen = seen + counts[ms]
    while next_cut <= #cuts and seen >= total * cuts[next_cut] / 100 do
      found[#found + 1] = string.format('"p%d": %d', cuts[next_cut], ms)
      next_cut = next_cut + 1
    end
  end
  found[#found + 1] = string.format('"max": %d', buckets[#buckets] or 0)
  return total, "{" .. table.concat(found, ", ") .. "}"
end

function done(summary, latency, requests)
  local counts, total_wraps, total_late, late_counts = {}, 0, 0, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
    total_wraps = total_wraps + thread:get("wraps")
    total_late = total_late + thread:get("late")
    for ms, n in pairs(thread:get("lateness")) do
      late_counts[ms] = (late_counts[ms] or 0) + n
    end
  end
  local status_json = {}
  for status, n in pairs(counts) do
    status_json[#status_json + 1] = string.format('"%d": %d', status, n)
  end
  local paced = "null"
  if rate > 0 then
    local sent, percentiles = lateness_json(late_counts)
    paced = string.format(
      '{"rate": %.1f, "sent": %d, "late": %d, "late_ms": %d, "lateness_ms": %s}',
      rate, sent, total_late, LATE_MS, percentiles)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, ' ..
    '"p50": %d, "p90": %d, "p99": %d, "p999": %d}, "statuses": {%s}, "wraps": %d, ' ..
    '"paced": %s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), table.concat(status_json, ", "), total_wraps, paced))
end
