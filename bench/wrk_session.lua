-- wrk script: send the signed-in session cookie (BENCH_COOKIE) on every request, and
-- optionally the version a page has (BENCH_ETAG, as If-None-Match, with HX-Request, as
-- the messages poll sends it); count answers that are not BENCH_EXPECT (default 200),
-- so a lost session (302 to /sign-in, fast and misleading), a changed thread or a
-- server error can never pass for throughput.
local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
local etag = os.getenv("BENCH_ETAG")
if etag and etag ~= "" then
  wrk.headers["If-None-Match"] = etag
  wrk.headers["HX-Request"] = "true"
end
local expected = tonumber(os.getenv("BENCH_EXPECT") or "200")

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  not_ok = 0
end

function response(status, headers, body)
  if status ~= expected then
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("not_ok")
  end
  io.write(string.format("BENCH requests=%d seconds=%.3f not_ok=%d errors=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.duration / 1e6, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
