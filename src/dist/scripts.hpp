// The Redis keys and Lua scripts of gopp::dist. Each script runs atomically in Redis, so the
// ownership check and the write it guards cannot be separated by another worker's takeover.
//
// Keys of queue Q:
//   gopp:Q:jobs      stream; entry fields: id (job id), p (payload), a (attempt), rs (result
//                    stream of the producer, "" for post). Consumer group "workers".
//   gopp:Q:dead      stream of dead letters: id, p, a, reason, deliveries, entry.
//   gopp:Q:retry     sorted set: score = due time (ms, Redis clock), member = msgpack
//                    {id, p, a, rs} of the next attempt.
//   gopp:Q:errors    hash: job id -> last error (for the dead letter of a job that later crashes).
//   gopp:Q:results:P stream of producer P's results: id, ok (1/0), v (value or reason).
//
// Invariants:
//   - An entry is acknowledged (XACK) only by its owner (the consumer that holds it in the
//     pending list), and only together with what replaces it: a result, a retry, a dead letter
//     or a re-added copy. A completion from a consumer that no longer owns the entry changes
//     nothing and is reported stale.
//   - The stream is trimmed with MINID at the oldest pending entry (or the group's
//     last-delivered id when nothing is pending): only acknowledged entries go.
#pragma once

#include <string>

namespace gopp::dist::detail {

inline const char* const group_name = "workers";

struct queue_keys {
  std::string jobs, dead, retry, errors, results_prefix;
  explicit queue_keys(const std::string& q)
      : jobs("gopp:" + q + ":jobs"),
        dead("gopp:" + q + ":dead"),
        retry("gopp:" + q + ":retry"),
        errors("gopp:" + q + ":errors"),
        results_prefix("gopp:" + q + ":results:") {}
};

// KEYS: jobs, dead, retry, errors. ARGV: group, consumer, then per completion 5 values:
// kind (ok | retry | dead | release), entry id, data (result or reason), delay ms (retry),
// spare. Returns the entry ids that were not ours any more (stale).
inline const std::string ack_script = R"lua(
local J, D, Z, E = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local g, me = ARGV[1], ARGV[2]
local stale = {}
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 3, #ARGV, 5 do
  local kind, sid, data, delay = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local p = redis.call('XPENDING', J, g, sid, sid, 1)
  if #p == 0 or p[1][2] ~= me then
    stale[#stale + 1] = sid
  else
    local e = redis.call('XRANGE', J, sid, sid)
    if #e > 0 then
      local arr = e[1][2]
      local f = {}
      for k = 1, #arr, 2 do f[arr[k]] = arr[k + 1] end
      local rs = f.rs or ''
      if kind == 'ok' then
        if rs ~= '' and f.id then redis.call('XADD', rs, '*', 'id', f.id, 'ok', '1', 'v', data) end
        if f.id then redis.call('HDEL', E, f.id) end
      elseif kind == 'retry' then
        if f.id then redis.call('HSET', E, f.id, data) end
        local a = tostring((tonumber(f.a) or 1) + 1)
        redis.call('ZADD', Z, now + tonumber(delay), cmsgpack.pack({f.id or '', f.p or '', a, rs}))
      elseif kind == 'release' then
        redis.call('XADD', J, '*', unpack(arr))
      else
        redis.call('XADD', D, '*', 'id', f.id or '', 'p', f.p or '', 'a', f.a or '',
                   'reason', data, 'deliveries', tostring(p[1][4]), 'entry', sid)
        if rs ~= '' and f.id then redis.call('XADD', rs, '*', 'id', f.id, 'ok', '0', 'v', data) end
        if f.id then redis.call('HDEL', E, f.id) end
      end
    end
    redis.call('XACK', J, g, sid)
  end
end
return stale
)lua";

// KEYS: jobs, dead, errors. ARGV: group, consumer, lease ms, max deliveries, count.
// Takes over up to `count` entries idle longer than the lease; dead-letters those delivered
// max-deliveries times already. Returns {entry id, {fields...}, deliveries} per claimed entry.
inline const std::string reclaim_script = R"lua(
local J, D, E = KEYS[1], KEYS[2], KEYS[3]
local g, me, lease, maxd = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local pend = redis.call('XPENDING', J, g, 'IDLE', lease, '-', '+', tonumber(ARGV[5]))
local out = {}
for _, p in ipairs(pend) do
  local sid, n = p[1], tonumber(p[4])
  if n >= maxd then
    local e = redis.call('XRANGE', J, sid, sid)
    if #e > 0 then
      local f = {}
      for k = 1, #e[1][2], 2 do f[e[1][2][k]] = e[1][2][k + 1] end
      local reason = 'delivered ' .. n .. ' times without completing (its workers died or lost their leases)'
      if f.id then
        local last = redis.call('HGET', E, f.id)
        if last then reason = reason .. '; last error: ' .. last end
        redis.call('HDEL', E, f.id)
      end
      redis.call('XADD', D, '*', 'id', f.id or '', 'p', f.p or '', 'a', f.a or '',
                 'reason', reason, 'deliveries', tostring(n), 'entry', sid)
      if f.rs and f.rs ~= '' and f.id then
        redis.call('XADD', f.rs, '*', 'id', f.id, 'ok', '0', 'v', reason)
      end
    end
    redis.call('XACK', J, g, sid)
  else
    local c = redis.call('XCLAIM', J, g, me, lease, sid)
    if #c > 0 and c[1] then
      out[#out + 1] = {c[1][1], c[1][2], n + 1}
    else
      redis.call('XACK', J, g, sid)
    end
  end
end
return out
)lua";

// KEYS: jobs. ARGV: group, consumer, entry ids. Renews (XCLAIM JUSTID, idle 0, delivery count
// unchanged) the entries the consumer still owns; returns those it lost.
inline const std::string heartbeat_script = R"lua(
local J, g, me = KEYS[1], ARGV[1], ARGV[2]
local lost = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', J, g, ARGV[i], ARGV[i], 1)
  if #p > 0 and p[1][2] == me then
    redis.call('XCLAIM', J, g, me, 0, ARGV[i], 'JUSTID')
  else
    lost[#lost + 1] = ARGV[i]
  end
end
return lost
)lua";

// KEYS: jobs, retry. ARGV: count. Moves due retries into the stream; returns how many.
inline const std::string promote_script = R"lua(
local J, Z = KEYS[1], KEYS[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', Z, '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, m in ipairs(due) do
  local v = cmsgpack.unpack(m)
  redis.call('ZREM', Z, m)
  redis.call('XADD', J, '*', 'id', v[1], 'p', v[2], 'a', v[3], 'rs', v[4])
end
return #due
)lua";

// KEYS: jobs. ARGV: group. XTRIM MINID at the oldest entry not yet acknowledged.
inline const std::string trim_script = R"lua(
local J, g = KEYS[1], ARGV[1]
if redis.call('EXISTS', J) == 0 then return 0 end
local s = redis.call('XPENDING', J, g)
local minid = nil
if tonumber(s[1]) > 0 then
  minid = s[2]
else
  for _, gr in ipairs(redis.call('XINFO', 'GROUPS', J)) do
    local name, last = nil, nil
    for k = 1, #gr, 2 do
      if gr[k] == 'name' then name = gr[k + 1] elseif gr[k] == 'last-delivered-id' then last = gr[k + 1] end
    end
    if name == g then minid = last end
  end
end
if minid and minid ~= '0-0' then return redis.call('XTRIM', J, 'MINID', minid) end
return 0
)lua";

}  // namespace gopp::dist::detail
