import { createHash } from 'node:crypto';
import { LIMITS } from '@omechat/protocol';

/**
 * The Lua that runs the waiting queue inside Redis, as a Redis function library (Redis 7+):
 * loaded once, its helpers are defined once, where a script would define them again on
 * every call (measured: ~30 µs of a ~40 µs call). Each function runs atomically, so pairing
 * (find a partner, remove both) cannot interleave with another node's: no user is paired
 * twice and no ticket is lost to a race. The ATSS rules are applied here, not trusted from
 * the caller: the candidate cells are derived from the ticket's own age and tolerance, and
 * the chosen partner is checked again against both tickets before anything is removed.
 *
 * Layout under the base key B (one hash tag, so every key lives in one slot):
 *   B:t            hash userHash -> record "member|node|cell|ticket JSON" (the ticket JSON
 *                  as the caller wrote it: cjson would re-encode numbers with 14 digits)
 *   B:seq          insertion counter
 *   B:plain:<cell> B:picky:<cell> B:i:<cell>:<interest>
 *                  sorted sets of members, score enqueuedAt; a member is the 15-digit
 *                  insertion number then the userHash, so equal scores order by insertion
 *   B:kind:plain   B:kind:picky  every member of that kind (tickets without and with
 *                  interests): expiry reads them oldest first, and the oldest says whether
 *                  any ticket of the kind has waited long enough to relax
 *   B:unswept      members not yet swept
 *   B:mask:plain   B:mask:picky  one byte per cell, '1' while that cell's bucket is not
 *                  empty; B:ic:<interest>  the cells holding that interest
 *                  (so an arrival reads only buckets that hold someone)
 *   B:nodes        node ids with tickets      B:node:<id>  that node's userHashes
 *   B:lease:<id>   exists while the node lives (PX lease, renewed by heartbeats)
 *   B:apart:<user> sorted set of users this user is kept apart from, score: until (ms);
 *                  the key expires with its latest entry
 * A cell is one (age, tolerance) combination: age * (toleranceMax + 1) + tolerance.
 */
const PRELUDE = `
-- The base key of the call being run (functions run one at a time).
local B
local ADULT, AGE_MIN, AGE_MAX, TOL_MAX, MAX_INTERESTS = ${LIMITS.adultAge}, ${LIMITS.ageMin}, ${LIMITS.ageMax}, ${LIMITS.toleranceMax}, ${LIMITS.maxInterests}

local function cellOf(age, tol) return age * (TOL_MAX + 1) + tol end

local function userOf(member) return string.sub(member, 16) end

local function parse(raw)
  local m, n, c, json = string.match(raw, '^([^|]*)|([^|]*)|([^|]*)|(.*)$')
  return { m = m, n = n, c = c, t = cjson.decode(json) }
end

local function earlier(score, member, best)
  return score < best.score or (score == best.score and member < best.member)
end

local function isInt(n, lo, hi) return n ~= nil and n == math.floor(n) and n >= lo and n <= hi end

-- Pure computations are cached for the life of the library (never data: Redis may drop it).
-- Measured: building the cell list and the key names cost more than the reads themselves.
local reachCache, keyCache = {}, {}

-- The cells of tickets a ticket of this age and tolerance may meet, ascending: the other's
-- age within our tolerance, on our side of the adult line, with a tolerance of its own that
-- covers the gap.
local function reachable(age, tol)
  local cached = reachCache[cellOf(age, tol)]
  if cached then return cached end
  local cells = {}
  local adult = age >= ADULT
  for other = math.max(AGE_MIN, age - tol), math.min(AGE_MAX, age + tol) do
    if (other >= ADULT) == adult then
      for t = math.abs(other - age), TOL_MAX do cells[#cells + 1] = cellOf(other, t) end
    end
  end
  reachCache[cellOf(age, tol)] = cells
  return cells
end

-- B:<kind>:<cell>
local function bucketKey(kind, cell)
  local byBase = keyCache[B]
  if not byBase then
    byBase = { plain = {}, picky = {} }
    keyCache[B] = byBase
  end
  local key = byBase[kind][cell]
  if not key then
    key = B .. ':' .. kind .. ':' .. cell
    byBase[kind][cell] = key
  end
  return key
end

local function kindOf(t) if #t.interests > 0 then return 'picky' end return 'plain' end

local function addTo(kind, cell, score, member)
  local bucket = bucketKey(kind, cell)
  redis.call('ZADD', bucket, score, member)
  if redis.call('ZCARD', bucket) == 1 then redis.call('SETRANGE', B .. ':mask:' .. kind, cell, '1') end
  redis.call('ZADD', B .. ':kind:' .. kind, score, member)
end

-- raw: the user's record if the caller has already read it.
local function removeTicket(user, raw)
  raw = raw or redis.call('HGET', B .. ':t', user)
  if not raw then return nil end
  local rec = parse(raw)
  local m, kind = rec.m, kindOf(rec.t)
  local bucket = bucketKey(kind, tonumber(rec.c))
  redis.call('ZREM', bucket, m)
  if redis.call('ZCARD', bucket) == 0 then redis.call('SETRANGE', B .. ':mask:' .. kind, rec.c, '0') end
  redis.call('ZREM', B .. ':kind:' .. kind, m)
  for _, interest in ipairs(rec.t.interests) do
    local key = B .. ':i:' .. rec.c .. ':' .. interest
    redis.call('ZREM', key, m)
    if redis.call('ZCARD', key) == 0 then redis.call('SREM', B .. ':ic:' .. interest, rec.c) end
  end
  redis.call('ZREM', B .. ':unswept', m)
  redis.call('SREM', B .. ':node:' .. rec.n, user)
  redis.call('HDEL', B .. ':t', user)
  return raw
end

-- The first ticket of a bucket that is not skipped, if it is older than best; with
-- relaxedBy set it must have waited relaxMs by then (and if it has not, no later one has).
local function olderHead(key, self, excluded, best, relaxedBy, relaxMs)
  local i = 0
  while true do
    local r = redis.call('ZRANGE', key, i, i, 'WITHSCORES')
    if #r == 0 then return best end
    local member, score = r[1], tonumber(r[2])
    if best and not earlier(score, member, best) then return best end
    local user = userOf(member)
    if user ~= self and not excluded[user] then
      if relaxedBy == nil or relaxedBy - score >= relaxMs then return { score = score, member = member, user = user } end
      return best
    end
    i = i + 1
  end
end

-- Which of the cells lo..hi of a kind may hold a partner: none if even its oldest ticket
-- has not relaxed by relaxedBy (when set), else those whose bucket is not empty: a '1' at
-- cell - lo + 1 of the returned slice of the mask.
local function maskOf(kind, relaxedBy, relaxMs, lo, hi)
  if relaxedBy ~= nil then
    local oldest = redis.call('ZRANGE', B .. ':kind:' .. kind, 0, 0, 'WITHSCORES')
    if #oldest == 0 or relaxedBy - tonumber(oldest[2]) < relaxMs then return '' end
  end
  return redis.call('GETRANGE', B .. ':mask:' .. kind, lo, hi)
end

-- The oldest allowed partner sharing an interest, else the oldest allowed one at all. The
-- pick does not depend on the order buckets are read in: it is the oldest of their heads.
local function findPartner(t, excluded, now, relaxMs)
  local cells = reachable(t.age, t.tolerance)
  local self = t.userHash
  local best = nil
  for _, interest in ipairs(t.interests) do
    local held = {}
    for _, cell in ipairs(redis.call('SMEMBERS', B .. ':ic:' .. interest)) do held[tonumber(cell)] = true end
    for _, cell in ipairs(cells) do
      if held[cell] then best = olderHead(B .. ':i:' .. cell .. ':' .. interest, self, excluded, best, nil, relaxMs) end
    end
  end
  if best then return best end
  local pickyBy = now
  if now - t.enqueuedAt >= relaxMs then pickyBy = nil end
  local plainBy = nil
  if #t.interests > 0 then plainBy = pickyBy end
  local lo, hi = cells[1], cells[#cells]
  local plain, picky = maskOf('plain', plainBy, relaxMs, lo, hi), maskOf('picky', pickyBy, relaxMs, lo, hi)
  for _, cell in ipairs(cells) do
    if string.byte(plain, cell - lo + 1) == 49 then best = olderHead(bucketKey('plain', cell), self, excluded, best, plainBy, relaxMs) end
    if string.byte(picky, cell - lo + 1) == 49 then best = olderHead(bucketKey('picky', cell), self, excluded, best, pickyBy, relaxMs) end
  end
  return best
end

-- A live partner for t, or nil. Tickets of nodes whose lease lapsed are removed on the way.
local function takePartner(t, excluded, now, relaxMs)
  for _ = 1, 100 do
    local best = findPartner(t, excluded, now, relaxMs)
    if not best then return nil end
    local raw = redis.call('HGET', B .. ':t', best.user)
    local rec = parse(raw)
    if redis.call('EXISTS', B .. ':lease:' .. rec.n) == 1 then
      local o = rec.t
      local gap = math.abs(o.age - t.age)
      if o.userHash == t.userHash or excluded[o.userHash] or (o.age >= ADULT) ~= (t.age >= ADULT)
        or gap > math.min(o.tolerance, t.tolerance) then
        return redis.error_reply('ATSS violation: refusing a pair the rules forbid')
      end
      return removeTicket(best.user, raw)
    end
    removeTicket(best.user, raw)
  end
  return nil
end

local function setOf(list, from, count)
  local set = {}
  for i = from, from + count - 1 do set[list[i]] = true end
  return set
end

-- Adds the users that user is kept apart from (until after now) to the excluded set.
local function addApart(excluded, user, now)
  local key = B .. ':apart:' .. user
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  for _, other in ipairs(redis.call('ZRANGE', key, 0, -1)) do excluded[other] = true end
  return excluded
end
`;

/**
 * ARGV: node, now, relaxMs, ticket JSON (interests deduplicated), enqueuedAt as
 * written by the caller, excluded count, excluded userHashes... Returns the partner's
 * record, or nil once the ticket is queued.
 */
const ENQUEUE = `
local node, now, relaxMs, json, score = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5]
local t = cjson.decode(json)
if not isInt(t.age, AGE_MIN, AGE_MAX) or not isInt(t.tolerance, 0, TOL_MAX) or #t.interests > MAX_INTERESTS then
  return redis.error_reply('match ticket out of range')
end
local excluded = addApart(setOf(ARGV, 7, tonumber(ARGV[6])), t.userHash, now)
removeTicket(t.userHash)
local partner = takePartner(t, excluded, now, relaxMs)
if partner then return partner end

local cell = cellOf(t.age, t.tolerance)
local member = string.format('%015d', redis.call('INCR', B .. ':seq')) .. t.userHash
redis.call('HSET', B .. ':t', t.userHash, member .. '|' .. node .. '|' .. cell .. '|' .. json)
addTo(kindOf(t), cell, score, member)
for _, interest in ipairs(t.interests) do
  redis.call('ZADD', B .. ':i:' .. cell .. ':' .. interest, score, member)
  redis.call('SADD', B .. ':ic:' .. interest, cell)
end
if now - t.enqueuedAt < relaxMs then redis.call('ZADD', B .. ':unswept', score, member) end
redis.call('SADD', B .. ':node:' .. node, t.userHash)
return nil
`;

/** ARGV: before. Takes the members of tickets enqueued at or before it off the unswept set. */
const TAKE_DUE = `
local due = redis.call('ZRANGEBYSCORE', B .. ':unswept', '-inf', ARGV[1])
for _, member in ipairs(due) do redis.call('ZREM', B .. ':unswept', member) end
return due
`;

/**
 * ARGV: member, now, relaxMs, excluded count, excluded... Pairs a waiting ticket if it is
 * still the same ticket. Returns {own record JSON, partner record JSON} or nil.
 */
const PAIR_WAITING = `
local member, now, relaxMs = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local user = userOf(member)
local raw = redis.call('HGET', B .. ':t', user)
if not raw then return nil end
local rec = parse(raw)
if rec.m ~= member or redis.call('EXISTS', B .. ':lease:' .. rec.n) == 0 then return nil end
local partner = takePartner(rec.t, addApart(setOf(ARGV, 5, tonumber(ARGV[4])), user, now), now, relaxMs)
if not partner then return nil end
removeTicket(user)
return { raw, partner }
`;

/** ARGV: a, b, until, now. Keeps a and b apart until then (both directions). */
const KEEP_APART = `
local a, b, untilMs, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
for _, pair in ipairs({ { a, b }, { b, a } }) do
  local key = B .. ':apart:' .. pair[1]
  redis.call('ZADD', key, ARGV[3], pair[2])
  local ttl = math.max(1, math.ceil(untilMs - now))
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
`;

/** ARGV: node, leaseMs. Renews the node's lease (and lists it, so its death is noticed). */
const HEARTBEAT = `
redis.call('SET', B .. ':lease:' .. ARGV[1], '1', 'PX', ARGV[2])
redis.call('SADD', B .. ':nodes', ARGV[1])
`;

/** ARGV: userHash. Returns the removed record JSON or nil. */
const CANCEL = `return removeTicket(ARGV[1])`;

/**
 * ARGV: before (exclusive). Removes tickets enqueued before it, oldest first, returning
 * their records; also removes, without returning them, every ticket of a node whose lease
 * has lapsed (a node that died: its users are gone).
 */
const EXPIRE = `
for _, node in ipairs(redis.call('SMEMBERS', B .. ':nodes')) do
  if redis.call('EXISTS', B .. ':lease:' .. node) == 0 then
    for _, user in ipairs(redis.call('SMEMBERS', B .. ':node:' .. node)) do removeTicket(user) end
    redis.call('DEL', B .. ':node:' .. node)
    redis.call('SREM', B .. ':nodes', node)
  end
end
local due = {}
for _, kind in ipairs({ 'plain', 'picky' }) do
  local found = redis.call('ZRANGEBYSCORE', B .. ':kind:' .. kind, '-inf', '(' .. ARGV[1], 'WITHSCORES')
  for i = 1, #found, 2 do due[#due + 1] = { score = tonumber(found[i + 1]), member = found[i] } end
end
table.sort(due, function(a, b) return earlier(a.score, a.member, b) end)
local expired = {}
for _, d in ipairs(due) do expired[#expired + 1] = removeTicket(userOf(d.member)) end
return expired
`;

const BODIES = {
  enqueue: ENQUEUE,
  takeDue: TAKE_DUE,
  pairWaiting: PAIR_WAITING,
  cancel: CANCEL,
  expire: EXPIRE,
  heartbeat: HEARTBEAT,
  keepApart: KEEP_APART,
} as const;

export type MatcherFunction = keyof typeof BODIES;

/**
 * Named after a hash of its code, so nodes running different versions during a rolling
 * upgrade each call their own functions on the same queue layout.
 */
const VERSION = createHash('sha1')
  .update(PRELUDE + Object.values(BODIES).join(''))
  .digest('hex')
  .slice(0, 12);
const LIBRARY_NAME = `omechat_matcher_${VERSION}`;

/** The full name to FCALL. */
export const matcherFunction = (name: MatcherFunction) => `${LIBRARY_NAME}_${name}`;

export const MATCHER_LIBRARY = [
  `#!lua name=${LIBRARY_NAME}`,
  PRELUDE,
  ...Object.entries(BODIES).map(
    ([name, body]) => `redis.register_function('${matcherFunction(name as MatcherFunction)}', function(KEYS, ARGV)\nB = KEYS[1]\n${body}\nend)`,
  ),
].join('\n');
