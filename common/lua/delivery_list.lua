-- delivery_list: one page of an endpoint's delivery log, newest first.
-- ARGV: 1 prefix, 2 endpoint id, 3 upper score (ms, or '+inf'),
--       4 lower score (ms, or '-inf'), 5 entries at the upper score already
--       seen (the cursor), 6 states as ',s1,s2,' ('' = every state),
--       7 matches wanted at most, 8 index entries to look at at most,
--       9 event types as ',t1,t2,' ('' or absent = every type)
-- Returns {known, done, next upper score, next skip, HGETALL...}
--   known 0: the endpoint never existed (no hash, no index; nothing else
--   follows); done 1: the range holds no entries after the ones looked at.
--
-- The cursor is a score plus how many entries at that score were seen, not
-- an offset from the top: deliveries created while a caller pages (newer,
-- so higher scores) do not shift it. Index entries whose delivery hash has
-- expired are passed over. Bounded work per call; the caller loops.
local ep, upper, lower = ARGV[2], ARGV[3], ARGV[4]
local skip, states = tonumber(ARGV[5]), ARGV[6]
local want, scan = tonumber(ARGV[7]), tonumber(ARGV[8])
local types = ARGV[9] or ''
local idx = K.endpoint_deliveries(ep)

if redis.call('EXISTS', K.endpoint(ep)) == 0 and redis.call('EXISTS', idx) == 0 then
  return {0, 1, upper, skip}
end

local rows = redis.call('ZREVRANGEBYSCORE', idx, upper, lower, 'WITHSCORES',
                        'LIMIT', skip, scan)
local cur = upper ~= '+inf' and tonumber(upper) or nil
local seen = skip
local found, looked = {}, 0
for i = 1, #rows, 2 do
  if #found >= want then break end
  local did, score = rows[i], tonumber(rows[i + 1])
  if score == cur then
    seen = seen + 1
  else
    cur, seen = score, 1
  end
  looked = looked + 1
  local h = redis.call('HGETALL', K.delivery(did))
  if #h > 0 then
    local st, ty = '', ''
    for j = 1, #h, 2 do
      if h[j] == 'state' then st = h[j + 1] elseif h[j] == 'event_type' then ty = h[j + 1] end
    end
    if (states == '' or string.find(states, ',' .. st .. ',', 1, true)) and
       (types == '' or string.find(types, ',' .. ty .. ',', 1, true)) then
      found[#found + 1] = h
    end
  end
end

local done = (looked == #rows / 2 and #rows / 2 < scan) and 1 or 0
local out = {1, done, cur and string.format('%.0f', cur) or upper, seen}
for i = 1, #found do out[#out + 1] = found[i] end
return out
