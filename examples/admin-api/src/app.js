'use strict';
// The Customer 360 admin endpoints of the original segmentation service, as
// thin handlers over the segmentation extension's SQL API:
//
//   GET    /api/admin/segments                     customers:view  get_all_segments()
//   POST   /api/admin/segments                     customers:edit  create_segment()
//   GET    /api/admin/customers/:id/segments       customers:view  customer_segments(), memberships only (cached)
//   POST   /api/admin/customers/:id/segments       customers:edit  assign_manual_segment()
//                                                                  or assign_automatic_segments()
//   DELETE /api/admin/customers/:id/segments?segmentId=N
//                                                  customers:edit  remove_manual_segment()
//
// The application decides nothing itself: each permission is a PostgreSQL
// login role (one pool each), and the database grants or refuses the call.
// Errors keep the extension's message; their SQLSTATE picks the HTTP status.
const http = require('node:http');
const { EventEmitter } = require('node:events');
const pg = require('pg');

// The extension's documented SQLSTATEs (README, "Errors"), as HTTP statuses.
// Anything else is a 500 whose details stay in the server's log.
const STATUS_BY_SQLSTATE = {
  '22023': 400, // invalid criteria, an empty segment name
  '22004': 400, // a missing (NULL) argument
  '22P02': 400, // an id that is not a valid key, or not a number
  '22003': 400, // an id out of the key type's range
  '42804': 400, // an id of the wrong type (a uuid in a shop with bigint keys)
  '42501': 403, // permission denied: the role lacks segmentation_editor
  '42704': 404, // unknown customer or segment
  '23505': 409, // a segment of that name already exists
  '55000': 409, // a manual operation on an automatic segment
};

// The roles a permission maps to: the pool whose login role was granted
// segmentation_viewer or segmentation_editor.
const POOL_BY_PERMISSION = { 'customers:view': 'viewer', 'customers:edit': 'editor' };

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Customers' segments as last read, keyed by customer id as the database
// spells it (the spelling of notifications). It only caches while the
// listener is listening: a notification missed would leave an entry stale.
class CustomerCache extends EventEmitter {
  constructor(maxEntries = 10000) {
    super();
    this.entries = new Map();
    this.maxEntries = maxEntries;
    this.listening = false;
    // Bumped by every invalidation: a read that started before one must not
    // be stored after it (it may hold what the invalidation was about).
    this.generation = 0;
  }

  get(customerId) {
    return this.entries.get(customerId);
  }

  set(customerId, value, generation) {
    if (!this.listening || generation !== this.generation) return;
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value);
    this.entries.set(customerId, value);
  }

  invalidate(customerId, why) {
    this.generation++;
    this.entries.delete(customerId);
    this.emit('invalidate', { customerId, why });
  }

  clear(why) {
    this.generation++;
    this.entries.clear();
    this.emit('invalidate', { all: true, why });
  }
}

// One transaction of the request's role, with the request's user as the
// actor recorded in the assignment log. SET LOCAL cannot take a bind
// parameter; set_config(..., true) can, and lasts until the transaction ends.
async function inTransaction(pool, actor, work) {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query("SELECT pg_catalog.set_config('segmentation.actor', $1, true)", [actor]);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

function segmentJson(row) {
  return {
    id: row.id, // bigint: a string in node-postgres
    name: row.name,
    description: row.description,
    criteria: row.criteria,
    isAutomatic: row.is_automatic,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

// --- handlers: each is one call of the SQL API ---------------------------

async function listSegments({ pool }) {
  const { rows } = await pool.query('SELECT * FROM segmentation.get_all_segments()');
  return { status: 200, body: rows.map(segmentJson) };
}

async function createSegment({ pool, user, body }) {
  const { name, criteria, isAutomatic, description } = body;
  if (typeof isAutomatic !== 'boolean') throw new HttpError(400, 'isAutomatic must be true or false');
  if (description !== undefined && description !== null && typeof description !== 'string') {
    throw new HttpError(400, 'description must be a string');
  }
  const row = await inTransaction(pool, user.actor, async (client) => {
    const { rows: [{ id }] } = await client.query(
      'SELECT segmentation.create_segment($1, $2::jsonb, $3, $4) AS id',
      // criteria goes as JSON text: node-postgres would send a JS array as a
      // PostgreSQL array. A missing name or criteria is NULL: the extension
      // says which (22004).
      [typeof name === 'string' ? name : null, criteria === undefined ? null : JSON.stringify(criteria),
        isAutomatic, description ?? null]);
    const { rows } = await client.query('SELECT * FROM segmentation.segments WHERE id = $1', [id]);
    return rows[0];
  });
  return { status: 201, body: segmentJson(row) };
}

async function customerSegments({ pool, params, cache }) {
  const requested = params.customerId;
  // A hit skips the database, and with it the permission check: fine here,
  // where both permissions' roles may call customer_segments().
  const cached = cache.get(requested);
  if (cached) return { status: 200, body: cached, headers: { 'x-cache': 'hit' } };
  const generation = cache.generation;
  // customer_segments() also lists the automatic segments an override
  // excludes the customer from (override 'excluded', no assigned_at): those
  // are not memberships. An inclusion is one, marked override 'included'.
  const { rows } = await pool.query(
    `SELECT segment_id, name, is_automatic, assigned_at, assigned_by, override
       FROM segmentation.customer_segments($1::text)
      WHERE override IS DISTINCT FROM 'excluded'`, [requested]);
  const body = {
    customerId: requested,
    segments: rows.map((r) => ({
      segmentId: r.segment_id,
      name: r.name,
      isAutomatic: r.is_automatic,
      assignedAt: r.assigned_at,
      assignedBy: r.assigned_by,
      override: r.override, // null, or 'included': a member whatever the criteria
    })),
  };
  // The database's spelling of the id (42 for "042"): the key notifications use.
  const { rows: [key] } = await pool.query(
    'SELECT customer_id::text AS id FROM segmentation.customer_metrics WHERE customer_id = $1', [requested]);
  if (key) {
    body.customerId = key.id;
    cache.set(key.id, body, generation);
  }
  return { status: 200, body, headers: { 'x-cache': 'miss' } };
}

async function assignSegments({ pool, user, params, body, cache }) {
  const customerId = params.customerId;
  let result;
  if (body.segmentId !== undefined && body.recalculateAutomatic === undefined) {
    // A segment id that is not an integer fails the cast: 22P02, a 400.
    result = await inTransaction(pool, user.actor, async (client) => {
      const { rows: [row] } = await client.query(
        'SELECT segmentation.assign_manual_segment($1::text, $2::text::bigint) AS assigned',
        [customerId, String(body.segmentId)]);
      return { customerId, segmentId: String(body.segmentId), assigned: row.assigned };
    });
  } else if (body.recalculateAutomatic === true && body.segmentId === undefined) {
    result = await inTransaction(pool, user.actor, async (client) => {
      const { rows: [row] } = await client.query(
        'SELECT added, removed FROM segmentation.assign_automatic_segments($1::text)', [customerId]);
      return { customerId, added: row.added, removed: row.removed };
    });
  } else {
    throw new HttpError(400, 'expected either "segmentId" or "recalculateAutomatic": true');
  }
  // The notification will say so too, after the commit; dropping the entry
  // now lets this client read its own write at once.
  cache.invalidate(customerId, 'request');
  return { status: 200, body: result };
}

async function removeSegment({ pool, user, params, query, cache }) {
  const customerId = params.customerId;
  const segmentId = query.get('segmentId');
  if (segmentId === null) throw new HttpError(400, 'the segmentId query parameter is required');
  const removed = await inTransaction(pool, user.actor, async (client) => {
    const { rows: [row] } = await client.query(
      'SELECT segmentation.remove_manual_segment($1::text, $2::text::bigint, $3) AS removed',
      [customerId, segmentId, query.get('reason')]);
    return row.removed;
  });
  cache.invalidate(customerId, 'request');
  return { status: 200, body: { customerId, segmentId, removed } };
}

const CUSTOMER_SEGMENTS = /^\/api\/admin\/customers\/([^/]+)\/segments$/;
const routes = [
  { path: /^\/api\/admin\/segments$/, handlers: { GET: listSegments, POST: createSegment } },
  { path: CUSTOMER_SEGMENTS, handlers: { GET: customerSegments, POST: assignSegments, DELETE: removeSegment } },
];

// --- the LISTEN side: the cache follows the database's changes ---------------

// Payloads (README, "Notifications"):
//   {"customer_id": 42, "added": [1, 3], "removed": [2]}   one customer changed
//   {"segment_id": 7, "added": 123456, "removed": 10, "summary": true}
// A summary means more customers changed in one transaction than the
// database names one by one: every entry may be stale, so all are dropped.
// So they are for a truncated one, whose text id may have been cut short.
function applyNotification(cache, payload) {
  const change = JSON.parse(payload);
  if (change.summary) cache.clear({ segmentId: String(change.segment_id) });
  else if (change.truncated) cache.clear('truncated notification');
  else cache.invalidate(String(change.customer_id), 'notification');
}

function startListener(connection, cache, log) {
  let client = null;
  let stopped = false;
  let retry = null;

  async function connect() {
    client = new pg.Client(connection);
    client.on('notification', (msg) => {
      try {
        applyNotification(cache, msg.payload);
      } catch (err) {
        log(`unreadable notification ${JSON.stringify(msg.payload)}: ${err.message}`);
        cache.clear('unreadable notification');
      }
    });
    client.on('error', (err) => lost(err));
    client.on('end', () => lost(new Error('connection ended')));
    await client.connect();
    await client.query('LISTEN segmentation_changed');
    // Whatever changed while nobody listened is unknown: start afresh.
    cache.clear('listening');
    cache.listening = true;
  }

  function lost(err) {
    cache.listening = false;
    cache.clear('listener lost');
    if (stopped || retry) return;
    log(`LISTEN connection lost (${err.message}); reconnecting`);
    client.removeAllListeners();
    client.on('error', () => {});
    client.end().catch(() => {});
    retry = setTimeout(() => {
      retry = null;
      connect().catch(lost);
    }, 1000);
  }

  return {
    ready: connect(),
    async stop() {
      stopped = true;
      cache.listening = false;
      clearTimeout(retry);
      if (client) {
        client.removeAllListeners();
        await client.end().catch(() => {});
      }
    },
  };
}

// --- the HTTP side --------------------------------------------------------

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 1 << 20) throw new HttpError(413, 'request body larger than 1 MiB');
    chunks.push(chunk);
  }
  if (size === 0) return {};
  let body;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `request body is not JSON: ${err.message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, 'request body must be a JSON object');
  }
  return body;
}

function errorResponse(err, log) {
  if (err instanceof HttpError) return { status: err.status, body: { error: { message: err.message } } };
  const status = STATUS_BY_SQLSTATE[err.code];
  if (status) return { status, body: { error: { code: err.code, message: err.message } } };
  log(`internal error: ${err.stack || err}`);
  return { status: 500, body: { error: { message: 'internal error' } } };
}

// options: { viewer, editor: pg connection settings of the two login roles,
//            users: Map of bearer token to { actor, permission },
//            log: function (default console.error) }
function createApp({ viewer, editor, users, log = console.error }) {
  const pools = { viewer: new pg.Pool(viewer), editor: new pg.Pool(editor) };
  for (const pool of Object.values(pools)) pool.on('error', (err) => log(`idle client: ${err.message}`));
  const cache = new CustomerCache();
  const listener = startListener(viewer, cache, log);

  async function handle(req) {
    const url = new URL(req.url, 'http://localhost');
    const route = routes.find((r) => r.path.test(url.pathname));
    if (!route) throw new HttpError(404, 'no such endpoint');
    const handler = route.handlers[req.method];
    if (!handler) throw Object.assign(new HttpError(405, `${req.method} is not allowed here`), { allow: Object.keys(route.handlers) });

    // Authentication stands in for the original service's: a bearer token
    // names the user (the actor in the log) and their permission.
    const token = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    const user = token && users.get(token[1]);
    if (!user) throw new HttpError(401, 'a valid bearer token is required');
    const pool = pools[POOL_BY_PERMISSION[user.permission]];
    if (!pool) throw new HttpError(403, `unknown permission ${user.permission}`);

    const match = route.path.exec(url.pathname);
    let customerId = null;
    if (match[1] !== undefined) {
      try {
        customerId = decodeURIComponent(match[1]);
      } catch {
        throw new HttpError(400, 'the customer id is not valid percent-encoding');
      }
    }
    const body = req.method === 'POST' ? await readJson(req) : {};
    return handler({ pool, user, params: { customerId }, query: url.searchParams, body, cache });
  }

  const server = http.createServer((req, res) => {
    handle(req)
      .catch((err) => {
        const response = errorResponse(err, log);
        if (err.allow) response.headers = { allow: err.allow.join(', ') };
        return response;
      })
      .then(({ status, body, headers = {} }) => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(JSON.stringify(body));
      });
  });

  return {
    server,
    cache,
    // Listens once the LISTEN connection is up, so that nothing is cached
    // before the cache can hear about changes.
    async listen(port, host) {
      await listener.ready;
      await new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, resolve);
      });
      return server.address();
    },
    async close() {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections(); // keep-alive clients (Node 18 keeps them open)
      await closed;
      await listener.stop();
      await Promise.all(Object.values(pools).map((p) => p.end()));
    },
  };
}

module.exports = { createApp, CustomerCache, applyNotification, STATUS_BY_SQLSTATE };
