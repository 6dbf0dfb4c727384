"""The Redis data layout of the shared prefix index: key names and the Lua scripts.

Keys (P = the configured prefix, e.g. `kvgate:prefix`; model and endpoint names are escaped,
`%` → `%25` and `:` → `%3A`, so the first `:` after a name always ends it and no two keys
of different kinds, models or endpoints can coincide):

- `P:m=<model>:e=<endpoint>` — ZSET, the endpoint's blocks of that model and its LRU:
  members are block hashes as 16 hex digits, scored by last record (ms since `EPOCH_MS`,
  bumped past the endpoint's newest score so records in the same ms stay ordered, plus a
  fraction that orders one record's chain tail-first).
- `P:m=<model>:endpoints` — SET of the (raw) endpoint names with a ZSET for that model:
  where `match` starts.
- `P:ep=<endpoint>:models` — SET of the (escaped) models the endpoint has blocks in: where
  `clear` starts.

Bounds: every key's TTL is refreshed when its endpoint records, so nothing outlives the TTL
without a new record. Each record trims its ZSET to `capacity` members (oldest first) and
drops members older than the TTL; `match` drops them too before walking an endpoint.
Each record also checks one random member of the model's endpoint SET and drops it if its
ZSET is gone, so endpoints that left are pruned without a scan. Memory is at most
capacity × endpoints × models members, ~75 bytes each (measured on Valkey 9: a full
100k-block endpoint takes ~7.5 MB).

`match`: per known endpoint, drop expired members and ZSCORE the first block; for the
endpoints holding it, ZMSCORE over the following blocks in chunks that double from 16 (one
server call per chunk, not per block) until the first block the endpoint lacks. Scripts
compute key names from their arguments, so they need a single Redis/Valkey primary ≥ 6.2
(ZMSCORE), not Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

# Scores are ms since this epoch (2023-11-14) so that a double keeps ~1e-5 ms resolution
# for the in-chain fraction; Unix-epoch ms would leave only ~2e-4.
EPOCH_MS = 1_700_000_000_000


def escape(name: str) -> str:
    return name.replace("%", "%25").replace(":", "%3A")


@dataclass(frozen=True, slots=True)
class RedisKeys:
    prefix: str

    def model(self, model: str) -> str:
        """Prefix of every key of `model`; the scripts append `endpoints` or `e=<ep>`."""
        return f"{self.prefix}:m={escape(model)}:"

    def endpoint_blocks(self, model: str, endpoint: str) -> str:
        return f"{self.model(model)}e={escape(endpoint)}"

    def endpoint_models(self, endpoint: str) -> str:
        return f"{self.prefix}:ep={escape(endpoint)}:models"


_COMMON = f"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - {EPOCH_MS}
local function esc(name)
  return (string.gsub(name, '[%%:]', {{['%'] = '%25', [':'] = '%3A'}}))
end
local function blocks(blob)
  local out = {{}}
  for i = 1, #blob / 16 do out[i] = string.sub(blob, 16 * i - 15, 16 * i) end
  return out
end
local function each_chunk(items, fn)
  for i = 1, #items, 1000 do fn(unpack(items, i, math.min(i + 999, #items))) end
end
"""

# ARGV: model key prefix, hex blob (16 hex digits per block), TTL ms.
# Returns a flat array [endpoint, leading blocks held, ...].
MATCH = (
    _COMMON
    + """
local mpfx, blob, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = #blob / 16
if n < 1 then return {} end
local cutoff = now - ttl
local hashes = {string.sub(blob, 1, 16)}
local out = {}
for _, ep in ipairs(redis.call('SMEMBERS', mpfx .. 'endpoints')) do
  local zkey = mpfx .. 'e=' .. esc(ep)
  -- Expired members sit at the low end of the ZSET: dropping them first (O(log n) when
  -- there are none) leaves the walk nothing to compare but presence.
  redis.call('ZREMRANGEBYSCORE', zkey, '-inf', '(' .. cutoff)
  if redis.call('ZSCORE', zkey, hashes[1]) then
    local count, size = 1, 16
    while count < n do
      local last = math.min(count + size, n)
      for i = #hashes + 1, last do hashes[i] = string.sub(blob, 16 * i - 15, 16 * i) end
      local scores = redis.call('ZMSCORE', zkey, unpack(hashes, count + 1, last))
      local wanted, held = #scores, 0
      while held < wanted and scores[held + 1] do held = held + 1 end
      count = count + held
      if held < wanted then break end
      size = math.min(size * 2, 1024)
    end
    out[#out + 1] = ep
    out[#out + 1] = count
  end
end
return out
"""
)

# ARGV: model key prefix, endpoint, hex blob, TTL ms, capacity, endpoint models key,
# escaped model. Returns {evicted, expired}.
RECORD = (
    _COMMON
    + """
local mpfx, ep, blob = ARGV[1], ARGV[2], ARGV[3]
local ttl, cap, mkey, model = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6], ARGV[7]
local zkey, ekey = mpfx .. 'e=' .. esc(ep), mpfx .. 'endpoints'
local hashes = blocks(blob)
local n = #hashes
local base = now
local newest = redis.call('ZREVRANGE', zkey, 0, 0, 'WITHSCORES')
if newest[2] then base = math.max(base, math.floor(tonumber(newest[2])) + 1) end
local pairs_ = {}
for i = 1, n do
  pairs_[2 * i - 1] = base + (n - i + 1) / (n + 1)  -- sent as %.17g: exact
  pairs_[2 * i] = hashes[i]
end
each_chunk(pairs_, function(...) redis.call('ZADD', zkey, ...) end)
local expired = redis.call('ZREMRANGEBYSCORE', zkey, '-inf', '(' .. (now - ttl))
local evicted = 0
local over = redis.call('ZCARD', zkey) - cap
if over > 0 then evicted = redis.call('ZREMRANGEBYRANK', zkey, 0, over - 1) end
redis.call('PEXPIRE', zkey, ttl)
local other = redis.call('SRANDMEMBER', ekey)
if other and redis.call('EXISTS', mpfx .. 'e=' .. esc(other)) == 0 then
  redis.call('SREM', ekey, other)
end
redis.call('SADD', ekey, ep)
redis.call('PEXPIRE', ekey, ttl)
redis.call('SADD', mkey, model)
redis.call('PEXPIRE', mkey, ttl)
return {evicted, expired}
"""
)

# ARGV: endpoint blocks key, hex blob.
REMOVE = (
    _COMMON
    + """
local zkey = ARGV[1]
each_chunk(blocks(ARGV[2]), function(...) redis.call('ZREM', zkey, ...) end)
return 0
"""
)

# ARGV: key prefix, endpoint. Frees the ZSETs in the background (UNLINK).
CLEAR = (
    _COMMON
    + """
local pfx, ep = ARGV[1], ARGV[2]
local mkey = pfx .. ':ep=' .. esc(ep) .. ':models'
local models = redis.call('SMEMBERS', mkey)
for _, model in ipairs(models) do
  local mpfx = pfx .. ':m=' .. model .. ':'
  redis.call('UNLINK', mpfx .. 'e=' .. esc(ep))
  redis.call('SREM', mpfx .. 'endpoints', ep)
end
redis.call('UNLINK', mkey)
return #models
"""
)
