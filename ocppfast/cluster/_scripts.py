"""Redis keys and the Lua scripts that own them (each script is atomic and one round trip).

Keys, under a prefix (default ``ocf:``); values never contain the identity, so any identity the
handshake accepts (up to 48 characters, no ``:``) is safe as a hash field:

- ``p``            hash  identity -> ``node|token|subprotocol`` (presence);
- ``n:<node>``     set   the identities a node owns (counts, clean-up of a dead node);
- ``lease:<node>`` string with a PX expiry: the node is alive while it exists (value: its info);
- ``nodes``        set   every node that registered (dead ones are removed by the janitor);
- ``seq``          the last fencing token handed out;
- ``janitor``      lock (SET NX PX) so that one node at a time cleans up dead nodes;
- channel ``c:<node>``: everything sent to a node (routed CALLs, results, evictions).

Fencing tokens are Redis server time in microseconds, bumped past ``seq`` when the clock did not
move: they only grow, also across a Redis restart that lost ``seq`` (a plain INCR counter would
start again at 1 and make every new claim look older than the tokens the nodes still hold). The
highest token is the newest connection; every write compares before it writes, so a stale node
can neither delete nor take back a newer owner's entry.
"""

from __future__ import annotations

__all__ = ["SCRIPTS", "Keys"]

_CLAIM_ARGS = """
local pfx, id, node, sub = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
"""

# duplicate_identity="reject": a live owner on another node keeps the identity -> {0, its value}
_KEEP_LIVE_OWNER = """
local held = redis.call('HGET', pfx .. 'p', id)
if held then
  local hnode = string.match(held, '^([^|]*)|')
  if hnode ~= node and redis.call('EXISTS', pfx .. 'lease:' .. hnode) == 1 then
    return {'0', held}
  end
end
"""

_CLAIM_BODY = """
local t = redis.call('TIME')
local tok = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', pfx .. 'seq') or '0')
if tok <= last then tok = last + 1 end
local stok = string.format('%.0f', tok)
redis.call('SET', pfx .. 'seq', stok)
local old = redis.call('HGET', pfx .. 'p', id)
redis.call('HSET', pfx .. 'p', id, node .. '|' .. stok .. '|' .. sub)
redis.call('SADD', pfx .. 'n:' .. node, id)
if old then
  local onode = string.match(old, '^([^|]*)|')
  if onode ~= node then redis.call('SREM', pfx .. 'n:' .. onode, id) end
  return {stok, old}
end
return {stok}
"""

# ARGV: prefix, identity, node, subprotocol -> {token, previous value or nothing}
CLAIM = _CLAIM_ARGS + _CLAIM_BODY

# The same, unless another live node holds the identity (then {0, its value}, nothing written).
CLAIM_IF_FREE = _CLAIM_ARGS + _KEEP_LIVE_OWNER + _CLAIM_BODY

# Compare-and-delete. ARGV: prefix, identity, node, token -> 1 deleted, 0 not ours (kept)
RELEASE = """
local pfx, id, node, tok = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local mine = node .. '|' .. tok .. '|'
local cur = redis.call('HGET', pfx .. 'p', id)
if cur and string.sub(cur, 1, #mine) == mine then
  redis.call('HDEL', pfx .. 'p', id)
  redis.call('SREM', pfx .. 'n:' .. node, id)
  return 1
end
return 0
"""

# After a reconnect to Redis or a lapsed lease: put back what this node holds, unless a newer
# owner that is alive has it. ARGV: prefix, node, then (identity, token, subprotocol) triples.
# -> {lost identities, {identity, node to evict}...}
REASSERT = """
local pfx, node = ARGV[1], ARGV[2]
local lost, evict = {}, {}
local maxtok = tonumber(redis.call('GET', pfx .. 'seq') or '0')
for i = 3, #ARGV, 3 do
  local id, tok, sub = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local ntok = tonumber(tok)
  if ntok > maxtok then maxtok = ntok end
  local cur = redis.call('HGET', pfx .. 'p', id)
  local take = true
  if cur then
    local cnode, ctok = string.match(cur, '^([^|]*)|([^|]*)|')
    if cnode ~= node then
      if tonumber(ctok) > ntok and redis.call('EXISTS', pfx .. 'lease:' .. cnode) == 1 then
        take = false
        lost[#lost + 1] = id
      else
        redis.call('SREM', pfx .. 'n:' .. cnode, id)
        evict[#evict + 1] = id
        evict[#evict + 1] = cnode
      end
    end
  end
  if take then
    redis.call('HSET', pfx .. 'p', id, node .. '|' .. tok .. '|' .. sub)
    redis.call('SADD', pfx .. 'n:' .. node, id)
  end
end
redis.call('SET', pfx .. 'seq', string.format('%.0f', maxtok))
return {lost, evict}
"""

# Entries that name this node but that it no longer holds (a station left while Redis was
# unreachable). ARGV: prefix, node, identities... -> number removed
PRUNE = """
local pfx, node = ARGV[1], ARGV[2]
local mine = node .. '|'
local n = 0
for i = 3, #ARGV do
  local cur = redis.call('HGET', pfx .. 'p', ARGV[i])
  if cur and string.sub(cur, 1, #mine) == mine then
    redis.call('HDEL', pfx .. 'p', ARGV[i])
    n = n + 1
  end
  redis.call('SREM', pfx .. 'n:' .. node, ARGV[i])
end
return n
"""

# A dead node (no lease): drop the entries that still name it. ARGV: prefix, node -> removed
JANITOR = """
local pfx, node = ARGV[1], ARGV[2]
if redis.call('EXISTS', pfx .. 'lease:' .. node) == 1 then return -1 end
local mine = node .. '|'
local n = 0
for _, id in ipairs(redis.call('SMEMBERS', pfx .. 'n:' .. node)) do
  local cur = redis.call('HGET', pfx .. 'p', id)
  if cur and string.sub(cur, 1, #mine) == mine then
    redis.call('HDEL', pfx .. 'p', id)
    n = n + 1
  end
end
redis.call('DEL', pfx .. 'n:' .. node)
redis.call('SREM', pfx .. 'nodes', node)
return n
"""

# Route one message to the owner of an identity, atomically with the presence lookup.
# ARGV: prefix, identity, message -> {1, node, subprotocol} | {0} not connected | {-1, node} down
ROUTE = """
local pfx, id = ARGV[1], ARGV[2]
local cur = redis.call('HGET', pfx .. 'p', id)
if not cur then return {0} end
local node, tok, sub = string.match(cur, '^([^|]*)|([^|]*)|(.*)$')
if redis.call('EXISTS', pfx .. 'lease:' .. node) == 0 then return {-1, node} end
if redis.call('PUBLISH', pfx .. 'c:' .. node, ARGV[3]) == 0 then return {-1, node} end
return {1, node, sub}
"""

SCRIPTS = {
    "claim": CLAIM,
    "claim_if_free": CLAIM_IF_FREE,
    "release": RELEASE,
    "reassert": REASSERT,
    "prune": PRUNE,
    "janitor": JANITOR,
    "route": ROUTE,
}


class Keys:
    """Key and channel names under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.presence = prefix + "p"
        self.nodes = prefix + "nodes"
        self.janitor = prefix + "janitor"

    def owned(self, node: str) -> str:
        return f"{self.prefix}n:{node}"

    def lease(self, node: str) -> str:
        return f"{self.prefix}lease:{node}"

    def channel(self, node: str) -> str:
        return f"{self.prefix}c:{node}"
