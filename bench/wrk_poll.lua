-- wrk script for the messages benchmark: the signed-in session cookie (BENCH_COOKIE)
-- and the version the page has (BENCH_ETAG, as If-None-Match) on every request; counts
-- answers that are not 304, so a lost session or a changed thread cannot pass for a
-- cheap "nothing new".
local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
wrk.headers["If-None-Match"] = os.getenv("BENCH_ETAG")
wrk.headers["HX-Request"] = "true"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  not_304 = 0
end

function response(status, headers, body)
  if status ~= 304 then
    not_304 = not_304 + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("not_304")
  end
  io.write(string.format("BENCH requests=%d seconds=%.3f not_304=%d errors=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, summary.duration / 1e6, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write
      + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
