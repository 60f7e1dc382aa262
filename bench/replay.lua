-- wrk script: replays pre-computed requests and counts response statuses.
--
--   wrk -t T -c C -d 20s -s bench/replay.lua URL -- REQUESTS_FILE T
--
-- REQUESTS_FILE has one request a line: METHOD <tab> PATH <tab> BEARER TOKEN <tab> JSON BODY
-- (token and body may be empty). Thread k of T sends lines k, k+T, k+2T, ... in order, so no
-- two threads send the same request (unless the file has fewer lines than threads); a thread that runs out starts again from its first line
-- and counts a wrap (for bookings a wrap means repeated slots, hence 409s: the report says so).
-- done() prints one line, "WRK_JSON {...}", that bench/run.py parses.
--
-- With REPLAY_THINK_MS set (environment), each connection waits a random time, exponential
-- with that mean, before each request: C connections then model C users who think between
-- requests, offering about C / think requests a second instead of saturating the server.

local threads = {}
local think_ms = tonumber(os.getenv("REPLAY_THINK_MS") or "0")

if think_ms > 0 then
  function delay()
    return math.floor(-think_ms * math.log(1 - math.random()))
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
  math.randomseed(os.time() * 100 + index)
  local lines = {}
  for line in io.lines(file) do lines[#lines + 1] = line end
  for n = index + 1, #lines, thread_count do queue[#queue + 1] = format(lines[n]) end
  -- Fewer lines than threads (a single GET, say): every thread sends them all.
  if #queue == 0 then
    for n = 1, #lines do queue[n] = format(lines[n]) end
  end
  if #queue == 0 then error("no requests in " .. file) end
end

function request()
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

function done(summary, latency, requests)
  local counts, total_wraps = {}, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + n
    end
    total_wraps = total_wraps + thread:get("wraps")
  end
  local status_json = {}
  for status, n in pairs(counts) do
    status_json[#status_json + 1] = string.format('"%d": %d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, ' ..
    '"p50": %d, "p90": %d, "p99": %d, "p999": %d}, "statuses": {%s}, "wraps": %d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), table.concat(status_json, ", "), total_wraps))
end
