# shellcheck shell=bash
# bench/lib/fill.sh — sourced by bench/dashboard.sh and bench/api.sh, never run
# alone: fill_deliveries fills an endpoint's delivery log with N deliveries
# written in the real key layout (docs/redis.md) by a Lua script, 100,000 per
# EVAL (account acct_perf, key prefix psw:).
#
# usage: fill_deliveries PORT EP N     (redis-server on 127.0.0.1:PORT)

# One batch: deliveries i0+1 .. i0+count, one every 10 ms back from now, every
# tenth failed, the rest delivered; the newest 100 with an event and an attempt
# record so the screen's Details have something to open.
psw_fill_lua='
local P, ep, i0, count, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local idx = P .. "endpoint:" .. ep .. ":deliveries"
local z = {}
for i = i0 + 1, i0 + count do
  local id = string.format("dlv_0%025d", i)
  local evt = string.format("evt_0%025d", i)
  local at = now - i * 10
  local failed = (i % 10 == 0)
  redis.call("HSET", P .. "delivery:" .. id, "id", id, "event_id", evt, "endpoint_id", ep,
    "account_id", "acct_perf", "event_type", "email.delivered",
    "state", failed and "failed" or "delivered", "attempts", "1", "created_at", at,
    "first_attempt_at", at + 5, "last_attempt_at", at + 5,
    "delivered_at", failed and "" or (at + 17), "last_status", failed and "500" or "200",
    "last_error", failed and "http: status 500" or "", "last_latency_ms", "12",
    "failed_reason", failed and "exhausted" or "", "trigger", "first")
  if i <= 100 then
    redis.call("HSET", P .. "event:" .. evt, "id", evt, "type", "email.delivered",
      "account_id", "acct_perf", "domain", "mail.example.com", "created_at", at,
      "body", "{\"id\":\"" .. evt .. "\",\"type\":\"email.delivered\"}", "published_at", at,
      "deliveries", "1")
    redis.call("RPUSH", P .. "delivery:" .. id .. ":attempts",
      "{\"n\":1,\"at\":" .. (at + 5) .. ",\"ended_at\":" .. (at + 17) ..
      ",\"trigger\":\"first\",\"request\":{\"url\":\"http://127.0.0.1:9/hooks\",\"headers\":{}}," ..
      "\"response\":{\"status\":200,\"headers\":{},\"body\":\"ok\",\"body_bytes\":2,\"body_truncated\":false}," ..
      "\"status\":200,\"latency_ms\":12,\"error\":null}")
  end
  z[#z + 1] = at
  z[#z + 1] = id
  if #z >= 2000 then redis.call("ZADD", idx, unpack(z)) z = {} end
end
if #z > 0 then redis.call("ZADD", idx, unpack(z)) end
return count
'

fill_deliveries() {
    local port=$1 ep=$2 n=$3 batch=100000 i0 c now
    now=$(date +%s%3N)
    for (( i0 = 0; i0 < n; i0 += batch )); do
        c=$(( n - i0 < batch ? n - i0 : batch ))
        redis-cli -p "$port" eval "$psw_fill_lua" 0 "psw:" "$ep" "$i0" "$c" "$now" >/dev/null
    done
}
