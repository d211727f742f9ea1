"""The Lua scripts that change the index: each runs atomically in Redis.

Keys, under the prefix ``P``:

- ``P:runs`` hash, run id → its record (JSON): ``s`` state (``R`` ready, ``A`` active, ``D`` done or
  not claimable: a tombstone), ``v`` version (the run's state time in µs, as text), ``t`` when the
  record was last written (Redis time in µs, as text), ``d`` deployment id (or ""), ``e`` expected
  start (epoch seconds), ``l`` deadline (epoch seconds, -1 for none), ``q`` the queues that hand
  the run out;
- ``P:ready:<queue>`` sorted set of ready runs by expected start; ``P:aq:<queue>`` and
  ``P:ad:<deployment>`` sets of active runs; ``P:tombstones`` sorted set of done records by time;
- ``P:queues`` hash, queue name → ``{"paused", "limit", "filter"}``; ``P:queue_names`` sorted set
  (for ``match`` prefixes); ``P:dlimits`` hash, deployment id → limit; ``P:meta`` hash (``ready`` is
  1 once the index was built from the database).

A record and the sets it is placed in always change together, in one script. The scripts build key
names from the prefix, so the index needs a standalone Redis (or a primary), not Redis Cluster.
"""

from __future__ import annotations

_COMMON = r"""
local p = ARGV[1]
local RUNS = p .. ':runs'
local TOMBS = p .. ':tombstones'
local function now_us()
  local t = redis.call('TIME')
  return t[1] .. string.format('%06d', tonumber(t[2]))
end
local function load(id)
  local raw = redis.call('HGET', RUNS, id)
  if raw then return cjson.decode(raw) end
  return nil
end
local function unplace(id, rec)
  if rec.s == 'R' then
    for _, q in ipairs(rec.q) do redis.call('ZREM', p .. ':ready:' .. q, id) end
  elseif rec.s == 'A' then
    for _, q in ipairs(rec.q) do redis.call('SREM', p .. ':aq:' .. q, id) end
    if rec.d ~= '' then redis.call('SREM', p .. ':ad:' .. rec.d, id) end
  end
end
local function place(id, rec)
  if rec.s == 'R' then
    for _, q in ipairs(rec.q) do redis.call('ZADD', p .. ':ready:' .. q, rec.e, id) end
  elseif rec.s == 'A' then
    for _, q in ipairs(rec.q) do redis.call('SADD', p .. ':aq:' .. q, id) end
    if rec.d ~= '' then redis.call('SADD', p .. ':ad:' .. rec.d, id) end
  end
  if rec.s == 'D' then redis.call('ZADD', TOMBS, tonumber(rec.t), id) else redis.call('ZREM', TOMBS, id) end
  redis.call('HSET', RUNS, id, cjson.encode(rec))
end
local function move(id, rec, state)
  unplace(id, rec)
  rec.s = state
  rec.t = now_us()
  place(id, rec)
end
"""

#: ARGV: prefix, mode, observations (JSON list), reconcile start (µs). Writes each observation unless
#: the record holds newer knowledge: ``observe`` needs a newer version; ``reconcile`` a record not
#: written since the rebuild started; ``compensate`` (a refused claim) a record still as the claim
#: left it (``stamp``) or a newer version. Returns how many records changed.
APPLY = (
    _COMMON
    + r"""
local mode = ARGV[2]
local started = tonumber(ARGV[4]) or 0
local changed = 0
for _, o in ipairs(cjson.decode(ARGV[3])) do
  local rec = load(o.id)
  local apply = rec == nil
  if not apply then
    if mode == 'observe' then apply = tonumber(o.v) > tonumber(rec.v)
    elseif mode == 'reconcile' then apply = tonumber(rec.t) < started
    else apply = rec.t == o.stamp or tonumber(o.v) > tonumber(rec.v) end
  end
  if apply and rec ~= nil and rec.s == o.s and rec.v == o.v and rec.d == o.d and rec.e == o.e and rec.l == o.l
      and table.concat(rec.q, '\n') == table.concat(o.q, '\n') then
    apply = false  -- the same knowledge: keep the record (and when it was written) as it is
  end
  if apply then
    if rec ~= nil then unplace(o.id, rec) end
    place(o.id, {s = o.s, v = o.v, t = now_us(), d = o.d, e = o.e, q = o.q, l = o.l})
    changed = changed + 1
  end
end
return changed
"""
)

#: ARGV: prefix, horizon, now (epoch seconds), limit, dry ("1"/"0"), queue names (JSON), match
#: prefix (or ""), how many ready runs to read per queue. Takes up to ``limit`` ready runs of the
#: unpaused queues due by ``horizon``, oldest first, while no queue of theirs and not their
#: deployment is at its limit, and marks them active. Returns ``{"ok", polled queue names (JSON),
#: id, stamp, id, stamp…}``; dry: ``{"dry", "1" if a run would be taken, next due time or ""}``;
#: ``{"reconcile"}`` while the index was not built from the database.
TAKE = (
    _COMMON
    + r"""
if redis.call('HGET', p .. ':meta', 'ready') ~= '1' then return {'reconcile'} end
local horizon = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local dry = ARGV[5] == '1'
local fetch = tonumber(ARGV[8])
local names = cjson.decode(ARGV[6])
if ARGV[7] ~= '' then
  for _, n in ipairs(redis.call('ZRANGEBYLEX', p .. ':queue_names', '[' .. ARGV[7], '[' .. ARGV[7] .. '\255')) do
    table.insert(names, n)
  end
end
local config, polled, open, seen = {}, {}, {}, {}
local function queue_config(n)
  if config[n] == nil then
    local raw = redis.call('HGET', p .. ':queues', n)
    config[n] = raw and cjson.decode(raw) or false
  end
  return config[n]
end
for _, n in ipairs(names) do
  if not seen[n] then
    seen[n] = true
    local c = queue_config(n)
    if c then
      table.insert(polled, n)
      if not c.paused then table.insert(open, n) end
    end
  end
end
local qcount, dlimit, dcount = {}, {}, {}
local function queue_full(n)
  local c = queue_config(n)
  if not c or c.limit < 0 then return false end
  if qcount[n] == nil then qcount[n] = redis.call('SCARD', p .. ':aq:' .. n) end
  return qcount[n] >= c.limit
end
local function deployment_full(d)
  if d == '' then return false end
  if dlimit[d] == nil then dlimit[d] = tonumber(redis.call('HGET', p .. ':dlimits', d)) or -1 end
  if dlimit[d] < 0 then return false end
  if dcount[d] == nil then dcount[d] = redis.call('SCARD', p .. ':ad:' .. d) end
  return dcount[d] >= dlimit[d]
end
local candidates = {}
for _, n in ipairs(open) do
  if not queue_full(n) then
    local got = redis.call('ZRANGEBYSCORE', p .. ':ready:' .. n, '-inf', ARGV[2], 'WITHSCORES', 'LIMIT', 0, fetch)
    for i = 1, #got, 2 do table.insert(candidates, {id = got[i], score = tonumber(got[i + 1]), queue = n}) end
  end
end
table.sort(candidates, function(a, b)
  if a.score ~= b.score then return a.score < b.score end
  return a.id < b.id
end)
local result = {'ok', cjson.encode(polled)}
local taken, claimable = {}, false
local count = 0
for _, c in ipairs(candidates) do
  if count >= limit then break end
  if not taken[c.id] then
    local rec = load(c.id)
    if rec == nil or rec.s ~= 'R' then
      if not dry then redis.call('ZREM', p .. ':ready:' .. c.queue, c.id) end
    elseif rec.l >= 0 and now > rec.l then
      if not dry then move(c.id, rec, 'D') end
    else
      local blocked = deployment_full(rec.d)
      if not blocked then
        for _, q in ipairs(rec.q) do
          if queue_full(q) then blocked = true break end
        end
      end
      if not blocked then
        if dry then claimable = true break end
        taken[c.id] = true
        count = count + 1
        if rec.d ~= '' and dcount[rec.d] ~= nil then dcount[rec.d] = dcount[rec.d] + 1 end
        for _, q in ipairs(rec.q) do
          if qcount[q] ~= nil then qcount[q] = qcount[q] + 1 end
        end
        move(c.id, rec, 'A')
        table.insert(result, c.id)
        table.insert(result, rec.t)
      end
    end
  end
end
if dry then
  local next_due = nil
  for _, n in ipairs(open) do
    local got = redis.call('ZRANGEBYSCORE', p .. ':ready:' .. n, '(' .. ARGV[2], '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if #got > 0 and (next_due == nil or tonumber(got[2]) < tonumber(next_due)) then next_due = got[2] end
  end
  return {'dry', claimable and '1' or '0', next_due or ''}
end
return result
"""
)

#: ARGV: prefix, [[id, stamp], …] (JSON). Puts runs a claim took back in their ready sets, unless
#: their record changed since (the claim failed before the database moved them).
RELEASE = (
    _COMMON
    + r"""
local released = 0
for _, item in ipairs(cjson.decode(ARGV[2])) do
  local rec = load(item[1])
  if rec ~= nil and rec.s == 'A' and rec.t == item[2] then
    move(item[1], rec, 'R')
    released = released + 1
  end
end
return released
"""
)

#: ARGV: prefix, run ids (JSON), rebuild start (µs). Ends the records of runs the database no longer
#: has as claimable or active, unless written since the rebuild started.
SWEEP = (
    _COMMON
    + r"""
local swept = 0
local started = tonumber(ARGV[3])
for _, id in ipairs(cjson.decode(ARGV[2])) do
  local rec = load(id)
  if rec ~= nil and rec.s ~= 'D' and tonumber(rec.t) < started then
    move(id, rec, 'D')
    swept = swept + 1
  end
end
return swept
"""
)

#: ARGV: prefix, set key, kind ("ready", "aq" or "ad"), queue name or deployment id. Removes members
#: whose record does not place them in this set (drift after keys were lost or edited by hand).
CLEAN_SET = (
    _COMMON
    + r"""
local key, kind, name = ARGV[2], ARGV[3], ARGV[4]
local members
if kind == 'ready' then members = redis.call('ZRANGE', key, 0, -1) else members = redis.call('SMEMBERS', key) end
local removed = 0
for _, id in ipairs(members) do
  local rec = load(id)
  local keep = false
  if rec ~= nil then
    if kind == 'ad' then
      keep = rec.s == 'A' and rec.d == name
    elseif (kind == 'ready' and rec.s == 'R') or (kind == 'aq' and rec.s == 'A') then
      for _, q in ipairs(rec.q) do
        if q == name then keep = true end
      end
    end
  end
  if not keep then
    if kind == 'ready' then redis.call('ZREM', key, id) else redis.call('SREM', key, id) end
    removed = removed + 1
  end
end
return removed
"""
)

#: ARGV: prefix, cutoff (µs). Forgets up to 1000 tombstones older than the cutoff.
PRUNE = (
    _COMMON
    + r"""
local ids = redis.call('ZRANGEBYSCORE', TOMBS, '-inf', ARGV[2], 'LIMIT', 0, 1000)
for _, id in ipairs(ids) do
  local rec = load(id)
  if rec == nil or rec.s == 'D' then redis.call('HDEL', RUNS, id) end
  redis.call('ZREM', TOMBS, id)
end
return #ids
"""
)

#: ARGV: prefix, queues (JSON: name → {"paused", "limit", "filter"}), deployment limits (JSON: id →
#: limit). Replaces the queue settings and deployment limits at once.
CONFIGURE = r"""
local p = ARGV[1]
redis.call('DEL', p .. ':queues', p .. ':queue_names', p .. ':dlimits')
for name, config in pairs(cjson.decode(ARGV[2])) do
  redis.call('HSET', p .. ':queues', name, cjson.encode(config))
  redis.call('ZADD', p .. ':queue_names', 0, name)
end
for id, limit in pairs(cjson.decode(ARGV[3])) do redis.call('HSET', p .. ':dlimits', id, limit) end
return 1
"""
