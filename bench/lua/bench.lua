-- wrk script for the benchmark: GETs over a list of paths, or one multipart upload repeated.
--   BENCH_PATHS   a file with one URL path per line, requested in turn (GET)
--   BENCH_UPLOAD  an image to POST as multipart field `avatar` (to wrk's URL path)
-- done() prints one line, `BENCH {json}`, that the Python side parses.

local paths, next_path = {}, 0
local upload, list = os.getenv("BENCH_UPLOAD"), os.getenv("BENCH_PATHS")

if upload then
  local f = assert(io.open(upload, "rb"))
  local data = f:read("*a")
  f:close()
  local name = upload:match("([^/]+)$")
  local types = { jpg = "image/jpeg", png = "image/png", webp = "image/webp" }
  local ctype = types[name:match("%.(%w+)$")] or "application/octet-stream"
  local boundary = "----bench" .. string.rep("7", 24)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "multipart/form-data; boundary=" .. boundary
  wrk.body = "--" .. boundary .. "\r\n"
    .. 'Content-Disposition: form-data; name="avatar"; filename="' .. name .. '"\r\n'
    .. "Content-Type: " .. ctype .. "\r\n\r\n" .. data .. "\r\n--" .. boundary .. "--\r\n"
elseif list then
  for line in io.lines(list) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  if #paths == 1 then
    wrk.path = paths[1]
  elseif #paths > 1 then
    request = function()
      next_path = next_path % #paths + 1
      return wrk.format("GET", paths[next_path])
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max))
end
