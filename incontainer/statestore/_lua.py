"""Lua sources run inside Redis (Redis 7.0 Lua 5.1 with ``struct``).

``LIBRARY`` applies RFC 6902 patches to msgpack documents by splicing bytes:
it walks the msgpack encoding to find a JSON Pointer target, replaces or
inserts the already-encoded value and rewrites only the container headers
whose element count changed. Values are never decoded into Lua tables, so an
int stays an int, a float stays a float and an empty map stays a map, which a
round trip through ``cmsgpack`` would not guarantee.

Each script is the library followed by a body; redis-py runs them with
EVALSHA and loads them again after a server restart (NOSCRIPT).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "APPLY_BATCH",
    "READ_ALL",
    "RESTORE_BEGIN",
    "RESTORE_REST",
    "SHA1_KEYS",
    "SNAPSHOT",
]

LIBRARY: Final = r"""
local byte, sub, char, concat, floor = string.byte, string.sub, string.char,
  table.concat, math.floor

local function fail(message) error({m = message}, 0) end

local function u16(s, p) local a, b = byte(s, p, p + 1); return a * 256 + b end
local function u32(s, p)
  local a, b, c, d = byte(s, p, p + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- Total size of fixed-size formats, by first byte.
local SIZE = {[0xc0] = 1, [0xc2] = 1, [0xc3] = 1, [0xca] = 5, [0xcb] = 9,
  [0xcc] = 2, [0xcd] = 3, [0xce] = 5, [0xcf] = 9, [0xd0] = 2, [0xd1] = 3,
  [0xd2] = 5, [0xd3] = 9, [0xd4] = 3, [0xd5] = 4, [0xd6] = 6, [0xd7] = 10,
  [0xd8] = 18}

-- Container header at p: kind (1 map, 2 array, 0 other), count, header size.
local function header(s, p)
  local b = byte(s, p)
  if b == nil then fail('truncated msgpack document') end
  if b >= 0x80 and b <= 0x8f then return 1, b - 0x80, 1 end
  if b >= 0x90 and b <= 0x9f then return 2, b - 0x90, 1 end
  if b == 0xde then return 1, u16(s, p + 1), 3 end
  if b == 0xdf then return 1, u32(s, p + 1), 5 end
  if b == 0xdc then return 2, u16(s, p + 1), 3 end
  if b == 0xdd then return 2, u32(s, p + 1), 5 end
  return 0, 0, 0
end

-- Position just after the value that starts at p.
local function skip(s, p)
  local b = byte(s, p)
  if b == nil then fail('truncated msgpack document') end
  if b < 0x80 or b >= 0xe0 then return p + 1 end
  if b >= 0xa0 and b <= 0xbf then return p + 1 + b - 0xa0 end
  local size = SIZE[b]
  if size then return p + size end
  if b == 0xd9 or b == 0xc4 then return p + 2 + byte(s, p + 1) end
  if b == 0xda or b == 0xc5 then return p + 3 + u16(s, p + 1) end
  if b == 0xdb or b == 0xc6 then return p + 5 + u32(s, p + 1) end
  if b == 0xc7 then return p + 3 + byte(s, p + 1) end
  if b == 0xc8 then return p + 4 + u16(s, p + 1) end
  if b == 0xc9 then return p + 6 + u32(s, p + 1) end
  local kind, n, h = header(s, p)
  if kind == 0 then fail('invalid msgpack byte') end
  if kind == 1 then n = n * 2 end
  p = p + h
  for _ = 1, n do p = skip(s, p) end
  return p
end

-- Nesting depth of the value at p (a scalar has depth 0) and the end of it.
local function depth(s, p)
  local kind, n, h = header(s, p)
  if kind == 0 then return 0, skip(s, p) end
  local deepest, d = 0, 0
  p = p + h
  for _ = 1, n do
    if kind == 1 then p = skip(s, p) end
    d, p = depth(s, p)
    if d > deepest then deepest = d end
  end
  return deepest + 1, p
end

-- The string at p (nil for another type) and the position after the value.
local function read_str(s, p)
  local b = byte(s, p)
  local n, h
  if b >= 0xa0 and b <= 0xbf then n, h = b - 0xa0, 1
  elseif b == 0xd9 then n, h = byte(s, p + 1), 2
  elseif b == 0xda then n, h = u16(s, p + 1), 3
  elseif b == 0xdb then n, h = u32(s, p + 1), 5
  else return nil, skip(s, p) end
  return sub(s, p + h, p + h + n - 1), p + h + n
end

local function be(n, width)
  local out = {}
  for i = width, 1, -1 do out[i] = char(n % 256); n = floor(n / 256) end
  return concat(out)
end

local function container_header(kind, n)
  local fix, c16, c32 = 0x80, 0xde, 0xdf
  if kind == 2 then fix, c16, c32 = 0x90, 0xdc, 0xdd end
  if n < 16 then return char(fix + n) end
  if n < 65536 then return char(c16) .. be(n, 2) end
  return char(c32) .. be(n, 4)
end

local function pack_str(t)
  local n = #t
  if n < 32 then return char(0xa0 + n) .. t end
  if n < 256 then return char(0xd9, n) .. t end
  if n < 65536 then return char(0xda) .. be(n, 2) .. t end
  return char(0xdb) .. be(n, 4) .. t
end

-- JSON Pointer (RFC 6901) to a list of unescaped tokens.
local function parse_pointer(pointer)
  local tokens = {}
  if pointer == '' then return tokens end
  if sub(pointer, 1, 1) ~= '/' then fail('invalid JSON Pointer ' .. pointer) end
  local start = 2
  while true do
    local slash = string.find(pointer, '/', start, true)
    local token = sub(pointer, start, (slash or 0) - 1)
    if string.find(token, '~[^01]') or sub(token, -1) == '~' then
      fail('invalid ~ escape in JSON Pointer ' .. pointer)
    end
    token = string.gsub(token, '~1', '/')
    token = string.gsub(token, '~0', '~')
    tokens[#tokens + 1] = token
    if not slash then break end
    start = slash + 1
  end
  return tokens
end

local function array_index(token)
  if token == '0' then return 0 end
  if string.find(token, '^[1-9][0-9]*$') then return tonumber(token) end
  return nil
end

-- Child `token` of the container at p: value start, value end, entry start.
-- With `optional`, a missing object member returns nil instead of failing.
local function child(s, p, token, optional)
  local kind, n, h = header(s, p)
  local q = p + h
  if kind == 1 then
    for _ = 1, n do
      local k, vq = read_str(s, q)
      local ve = skip(s, vq)
      if k == token then return vq, ve, q end
      q = ve
    end
    if optional then return nil end
    fail('member "' .. token .. '" not found')
  elseif kind == 2 then
    local index = array_index(token)
    if index == nil then fail('invalid array index "' .. token .. '"') end
    if index >= n then fail('array index ' .. token .. ' is out of range') end
    for _ = 1, index do q = skip(s, q) end
    return q, skip(s, q), q
  end
  fail('cannot look up "' .. token .. '" in a non-container value')
end

-- Start and end of the value at tokens[1..count].
local function locate(s, tokens, count)
  if s == nil then fail('the document does not exist') end
  local p, e = 1, #s + 1
  for i = 1, count do p, e = child(s, p, tokens[i], false) end
  return p, e
end

local function op_get(s, tokens)
  local p, e = locate(s, tokens, #tokens)
  return sub(s, p, e - 1)
end

local function op_add(s, tokens, v)
  if #tokens == 0 then return v end
  local pp, pe = locate(s, tokens, #tokens - 1)
  local kind, n, h = header(s, pp)
  local token = tokens[#tokens]
  if kind == 1 then
    local vs, ve = child(s, pp, token, true)
    if vs then return sub(s, 1, vs - 1) .. v .. sub(s, ve) end
    return sub(s, 1, pp - 1) .. container_header(1, n + 1) ..
      sub(s, pp + h, pe - 1) .. pack_str(token) .. v .. sub(s, pe)
  elseif kind == 2 then
    local index = n
    if token ~= '-' then
      index = array_index(token)
      if index == nil then fail('invalid array index "' .. token .. '"') end
      if index > n then fail('array index ' .. token .. ' is out of range') end
    end
    local q = pp + h
    for _ = 1, index do q = skip(s, q) end
    return sub(s, 1, pp - 1) .. container_header(2, n + 1) ..
      sub(s, pp + h, q - 1) .. v .. sub(s, q)
  end
  fail('the parent of the path is not a container')
end

local function op_remove(s, tokens)
  if #tokens == 0 then fail('cannot remove the whole document') end
  local pp = locate(s, tokens, #tokens - 1)
  local kind, n, h = header(s, pp)
  local _, ve, es = child(s, pp, tokens[#tokens], false)
  return sub(s, 1, pp - 1) .. container_header(kind, n - 1) ..
    sub(s, pp + h, es - 1) .. sub(s, ve)
end

local function op_replace(s, tokens, v)
  local p, e = locate(s, tokens, #tokens)
  return sub(s, 1, p - 1) .. v .. sub(s, e)
end

-- Integer at p as sign, high and low 32-bit halves of its magnitude.
local function int_parts(s, p)
  local b = byte(s, p)
  if b < 0x80 then return '+', 0, b end
  if b >= 0xe0 then return '-', 0, 256 - b end
  if b == 0xcc then return '+', 0, byte(s, p + 1) end
  if b == 0xcd then return '+', 0, u16(s, p + 1) end
  if b == 0xce then return '+', 0, u32(s, p + 1) end
  if b == 0xcf then return '+', u32(s, p + 1), u32(s, p + 5) end
  local v, limit
  if b == 0xd0 then v, limit = byte(s, p + 1), 256
  elseif b == 0xd1 then v, limit = u16(s, p + 1), 65536
  elseif b == 0xd2 then v, limit = u32(s, p + 1), 4294967296
  elseif b == 0xd3 then
    local hi, lo = u32(s, p + 1), u32(s, p + 5)
    if hi < 2147483648 then return '+', hi, lo end
    hi, lo = 4294967295 - hi, 4294967296 - lo
    if lo == 4294967296 then lo, hi = 0, hi + 1 end
    return '-', hi, lo
  else return nil end
  if v < limit / 2 then return '+', 0, v end
  return '-', 0, limit - v
end

-- Scalar at p as a JSON type name, an exact form and, for numbers, a double.
local function scalar(s, p)
  local b = byte(s, p)
  if b == 0xc0 then return 'null', '' end
  if b == 0xc2 then return 'bool', 'f' end
  if b == 0xc3 then return 'bool', 't' end
  if b == 0xca then return 'num', nil, struct.unpack('>f', sub(s, p + 1, p + 4)) end
  if b == 0xcb then return 'num', nil, struct.unpack('>d', sub(s, p + 1, p + 8)) end
  local sign, hi, lo = int_parts(s, p)
  if sign then
    local magnitude = hi * 4294967296 + lo
    if sign == '-' then magnitude = -magnitude end
    return 'num', sign .. string.format('%.0f:%.0f', hi, lo), magnitude
  end
  local text = read_str(s, p)
  if text then return 'str', text end
  local e = skip(s, p)
  if b == 0xc4 then return 'bin', sub(s, p + 2, e - 1) end
  if b == 0xc5 then return 'bin', sub(s, p + 3, e - 1) end
  if b == 0xc6 then return 'bin', sub(s, p + 5, e - 1) end
  return 'ext', sub(s, p, e - 1)
end

-- JSON equality of the values at pa in a and pb in b (RFC 6902 section 4.6).
local function equal(a, pa, b, pb)
  local ka, na, ha = header(a, pa)
  local kb, nb, hb = header(b, pb)
  if ka ~= kb or na ~= nb then return false end
  if ka == 2 then
    pa, pb = pa + ha, pb + hb
    for _ = 1, na do
      if not equal(a, pa, b, pb) then return false end
      pa, pb = skip(a, pa), skip(b, pb)
    end
    return true
  end
  if ka == 1 then
    local members, q = {}, pb + hb
    for _ = 1, nb do
      local k, vq = read_str(b, q)
      members[k] = vq
      q = skip(b, vq)
    end
    q = pa + ha
    for _ = 1, na do
      local k, vq = read_str(a, q)
      local other = members[k]
      if other == nil or not equal(a, vq, b, other) then return false end
      q = skip(a, vq)
    end
    return true
  end
  local ta, ea, xa = scalar(a, pa)
  local tb, eb, xb = scalar(b, pb)
  if ta ~= tb then return false end
  if ta == 'num' and (ea == nil or eb == nil) then return xa == xb end
  return ea == eb
end

local function check_depth(level, v, max_depth)
  if level + depth(v, 1) > max_depth then
    fail('the result would be nested deeper than the limit of ' ..
      max_depth .. ' levels')
  end
end

local function is_prefix(short, long)
  if #short >= #long then return false end
  for i = 1, #short do if short[i] ~= long[i] then return false end end
  return true
end

local function apply_op(s, op, max_depth)
  local name = op.op
  local path = parse_pointer(op.path)
  if name == 'add' or name == 'replace' then check_depth(#path, op.value, max_depth) end
  if name == 'add' then return op_add(s, path, op.value) end
  if name == 'remove' then return op_remove(s, path) end
  if name == 'replace' then return op_replace(s, path, op.value) end
  if name == 'test' then
    local p = locate(s, path, #path)
    if not equal(s, p, op.value, 1) then
      fail('the value at the path is not equal to "value"')
    end
    return s
  end
  local from = parse_pointer(op.from)
  if name == 'move' and is_prefix(from, path) then
    fail('"from" is a proper prefix of "path"')
  end
  local v = op_get(s, from)
  if name == 'move' then
    if op.from == op.path then return s end
    check_depth(#path, v, max_depth)
    return op_add(op_remove(s, from), path, v)
  end
  if name == 'copy' then
    check_depth(#path, v, max_depth)
    return op_add(s, path, v)
  end
  fail('unknown operation ' .. tostring(name))
end

-- Operations of a msgpack-encoded patch: op, path and from as strings, value
-- as the raw msgpack bytes.
local function read_ops(patch)
  local kind, n, h = header(patch, 1)
  if kind ~= 2 then fail('the patch is not an array') end
  local ops, q = {}, 1 + h
  for i = 1, n do
    local mk, mn, mh = header(patch, q)
    if mk ~= 1 then fail('patch operation ' .. (i - 1) .. ' is not an object') end
    local op = {}
    q = q + mh
    for _ = 1, mn do
      local k, vq = read_str(patch, q)
      local ve = skip(patch, vq)
      if k == 'value' then op.value = sub(patch, vq, ve - 1)
      elseif k == 'op' or k == 'path' or k == 'from' then
        op[k] = read_str(patch, vq)
      end
      q = ve
    end
    ops[i] = op
  end
  return ops
end

-- Apply a patch: true and the new document, or false, the failing operation
-- index (0-based) and a message.
local function apply_patch(s, patch, max_depth)
  local ok, ops = pcall(read_ops, patch)
  if not ok then return false, -1, (type(ops) == 'table' and ops.m or tostring(ops)) end
  for i, op in ipairs(ops) do
    local done, result = pcall(apply_op, s, op, max_depth)
    if not done then
      return false, i - 1, (type(result) == 'table' and result.m or tostring(result))
    end
    s = result
  end
  return true, s
end

local function varint(n)
  local out = {}
  while n >= 128 do out[#out + 1] = char(n % 128 + 128); n = floor(n / 128) end
  out[#out + 1] = char(n)
  return concat(out)
end

local function read_varint(s, p)
  local n, scale = 0, 1
  while true do
    local b = byte(s, p)
    p = p + 1
    n = n + (b % 128) * scale
    if b < 128 then return n, p end
    scale = scale * 128
  end
end

-- Key (field 2) and patch (field 5) of a PatchRecord protobuf.
local function record_key_patch(record)
  local p, key, patch = 1, nil, nil
  while p <= #record do
    local tag, n
    tag, p = read_varint(record, p)
    local field, wire = floor(tag / 8), tag % 8
    if wire == 0 then n, p = read_varint(record, p)
    elseif wire == 1 then p = p + 8
    elseif wire == 5 then p = p + 4
    elseif wire == 2 then
      n, p = read_varint(record, p)
      if field == 2 then key = sub(record, p, p + n - 1) end
      if field == 5 then patch = sub(record, p, p + n - 1) end
      p = p + n
    else fail('unsupported protobuf wire type ' .. wire) end
  end
  return key, patch
end

local function get_or_nil(key)
  local value = redis.call('GET', key)
  if value == false then return nil end
  return value
end
"""

# ARGV: prefix, retention (0 = keep all), max depth, fold budget, fold slack
# (see the fold at the end), then 7 per
# update: key, base version (-1 = the result of the previous update of this
# key in the batch, -2 = whatever version is current), tier, TTL in ms (0 =
# none), patch, record, update id.
# Returns one {status, a, b} per update: 0 applied (a = version), 1 conflict
# (a = current version), 2 patch failed (a = op index, b = message), 3 already
# applied earlier (a = version), 4 value expired (a = current version),
# 5 skipped because the previous update of the key failed.
APPLY_BATCH: Final = (
    LIBRARY
    + r"""
local prefix = ARGV[1]
local retention, max_depth = tonumber(ARGV[2]), tonumber(ARGV[3])
local budget, slack = tonumber(ARGV[4]), tonumber(ARGV[5])
local meta, vers, tiers = prefix .. 'meta', prefix .. 'ver', prefix .. 'tier'
local log, ids, base = prefix .. 'log', prefix .. 'ids', prefix .. 'base'
local version = tonumber(redis.call('HGET', meta, 'version') or '0')
local results, last = {}, {}

for i = 6, #ARGV, 7 do
  local key, base_version = ARGV[i], tonumber(ARGV[i + 1])
  local tier, ttl, patch = ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4]
  local record, update_id = ARGV[i + 5], ARGV[i + 6]
  local current = tonumber(redis.call('HGET', vers, key) or '0')
  local result
  local seen = redis.call('ZSCORE', ids, update_id)
  if seen then
    result = {3, tonumber(seen)}
  elseif base_version == -2 then
    base_version = current
  elseif base_version < 0 then
    local previous = last[key]
    if previous and (previous[1] == 0 or previous[1] == 3) then
      base_version = previous[2]
    else
      result = {5, current}
    end
  end
  if result == nil and base_version ~= current then result = {1, current} end
  if result == nil then
    local value_key = prefix .. 'val:' .. key
    local doc = get_or_nil(value_key)
    local ok, new_doc, message = apply_patch(doc, patch, max_depth)
    if not ok and doc == nil and current > 0 then
      result = {4, current}
    elseif not ok then
      result = {2, new_doc, message}
    else
      version = version + 1
      if ttl > 0 then
        redis.call('SET', value_key, new_doc, 'PX', ttl)
      else
        redis.call('SET', value_key, new_doc)
      end
      redis.call('HSET', vers, key, version)
      redis.call('HSET', tiers, key, tier)
      redis.call('XADD', log, version .. '-0', 'r', record .. '\8' .. varint(version))
      redis.call('ZADD', ids, version, update_id)
      result = {0, version}
    end
  end
  last[key] = result
  results[#results + 1] = result
end
redis.call('HSET', meta, 'version', version)

-- Fold patches that fell out of the retention window into the base snapshot
-- once `slack` of them piled up, at most `budget` per call so that one call
-- never stalls the server. Between folds the log holds up to retention +
-- slack versions.
if retention > 0 then
  local oldest = tonumber(redis.call('HGET', meta, 'base_version') or '0')
  local limit = math.min(version - retention, oldest + budget)
  if limit - oldest >= slack then
    local entries = redis.call('XRANGE', log, (oldest + 1) .. '-0', limit .. '-0')
    local docs = {}
    for _, entry in ipairs(entries) do
      local key, patch = record_key_patch(entry[2][2])
      local doc = docs[key]
      if doc == nil then
        doc = redis.call('HGET', base, key)
        if doc == false then doc = nil end
      end
      local ok, new_doc = apply_patch(doc, patch, 1e9)
      if ok then docs[key] = new_doc end
    end
    for key, doc in pairs(docs) do redis.call('HSET', base, key, doc) end
    redis.call('XTRIM', log, 'MINID', (limit + 1) .. '-0')
    redis.call('HSET', meta, 'base_version', limit)
    redis.call('ZREMRANGEBYSCORE', ids, '-inf', limit)
  end
end
return results
"""
)

# ARGV: prefix. Returns {version, base_version, key, version, tier, value, ...}
# for every key whose value exists (a non-critical value may have expired).
READ_ALL: Final = r"""
local prefix = ARGV[1]
local meta = redis.call('HMGET', prefix .. 'meta', 'version', 'base_version')
local out = {meta[1] or '0', meta[2] or '0'}
local vers = redis.call('HGETALL', prefix .. 'ver')
local tiers = redis.call('HGETALL', prefix .. 'tier')
local tier_of = {}
for i = 1, #tiers, 2 do tier_of[tiers[i]] = tiers[i + 1] end
for i = 1, #vers, 2 do
  local value = redis.call('GET', prefix .. 'val:' .. vers[i])
  if value then
    out[#out + 1] = vers[i]
    out[#out + 1] = vers[i + 1]
    out[#out + 1] = tier_of[vers[i]] or 'c'
    out[#out + 1] = value
  end
end
return out
"""

# ARGV: prefix, checkpoint prefix. Copies every live value to the checkpoint
# (without TTL) and returns {version, key, version, tier, size, sha1, ...}.
SNAPSHOT: Final = r"""
local prefix, target = ARGV[1], ARGV[2]
local version = redis.call('HGET', prefix .. 'meta', 'version') or '0'
local out = {version}
local vers = redis.call('HGETALL', prefix .. 'ver')
for i = 1, #vers, 2 do
  local key = vers[i]
  local value = redis.call('GET', prefix .. 'val:' .. key)
  if value then
    redis.call('SET', target .. 'val:' .. key, value)
    out[#out + 1] = key
    out[#out + 1] = vers[i + 1]
    out[#out + 1] = redis.call('HGET', prefix .. 'tier', key) or 'c'
    out[#out + 1] = #value
    out[#out + 1] = redis.sha1hex(value)
  end
end
return out
"""

# ARGV: key names. Returns the SHA-1 of each value, '' when it is missing.
SHA1_KEYS: Final = r"""
local out = {}
for i = 1, #ARGV do
  local value = redis.call('GET', ARGV[i])
  if value then out[i] = redis.sha1hex(value) else out[i] = '' end
end
return out
"""

# ARGV: prefix, checkpoint prefix, then 4 per key: key, tier, source ('c' =
# copy from the checkpoint, 'v' = the next argument), value. Drops the live
# state and the patch log, starts a new epoch one version after the current
# one and writes the given keys at that version. Returns the epoch.
RESTORE_BEGIN: Final = r"""
local prefix, source = ARGV[1], ARGV[2]
local meta = prefix .. 'meta'
local epoch = tonumber(redis.call('HGET', meta, 'version') or '0') + 1
local vers = redis.call('HKEYS', prefix .. 'ver')
for i = 1, #vers do redis.call('DEL', prefix .. 'val:' .. vers[i]) end
redis.call('DEL', prefix .. 'ver', prefix .. 'tier', prefix .. 'log',
  prefix .. 'ids', prefix .. 'base')
redis.call('HSET', meta, 'version', epoch, 'base_version', epoch, 'epoch', epoch)
for i = 3, #ARGV, 4 do
  local key, tier = ARGV[i], ARGV[i + 1]
  local value = ARGV[i + 3]
  if ARGV[i + 2] == 'c' then value = redis.call('GET', source .. 'val:' .. key) end
  if value then
    redis.call('SET', prefix .. 'val:' .. key, value)
    redis.call('HSET', prefix .. 'ver', key, epoch)
    redis.call('HSET', prefix .. 'tier', key, tier)
    redis.call('HSET', prefix .. 'base', key, value)
  end
end
return epoch
"""

# ARGV: prefix, checkpoint prefix, epoch, then 4 per key as RESTORE_BEGIN.
# Writes the keys that no update wrote since the epoch began and returns how
# many, or -1 when another restore started a newer epoch.
RESTORE_REST: Final = r"""
local prefix, source, epoch = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', prefix .. 'meta', 'epoch') ~= epoch then return -1 end
local written = 0
for i = 4, #ARGV, 4 do
  local key, tier = ARGV[i], ARGV[i + 1]
  if redis.call('HEXISTS', prefix .. 'ver', key) == 0 then
    local value = ARGV[i + 3]
    if ARGV[i + 2] == 'c' then value = redis.call('GET', source .. 'val:' .. key) end
    if value then
      redis.call('SET', prefix .. 'val:' .. key, value)
      redis.call('HSET', prefix .. 'ver', key, epoch)
      redis.call('HSET', prefix .. 'tier', key, tier)
      redis.call('HSET', prefix .. 'base', key, value)
      written = written + 1
    end
  end
end
return written
"""
