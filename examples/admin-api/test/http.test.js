'use strict';
// The example over HTTP, against a real database: every endpoint, every
// error mapping, and the cache following LISTEN segmentation_changed.
// Needs a PostgreSQL superuser in the PG* environment variables with the
// extension installed (scripts/database-tests.sh example runs it inside
// pg_virtualenv). It creates the database segmentation_example_test and the
// login roles example_admin_viewer and example_admin_editor.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const pg = require('pg');
const { createApp } = require('../src/app');

const DB = 'segmentation_example_test';
const VIEWER = 'viewer-token';
const EDITOR = 'editor-token';
const users = new Map([
  [VIEWER, { actor: 'vera@example.com', permission: 'customers:view' }],
  [EDITOR, { actor: 'alice@example.com', permission: 'customers:edit' }],
]);

let admin; // a superuser connection to the test database: the "rest of the shop"
let app;
let base;
let big; // segment ids, as strings (bigint in node-postgres)
let vip;

before(async () => {
  const postgres = new pg.Client({ database: 'postgres' });
  await postgres.connect();
  await postgres.query(`DROP DATABASE IF EXISTS ${DB}`);
  await postgres.query(`CREATE DATABASE ${DB}`);
  // Application login roles: the permission check is theirs.
  const passwords = {};
  for (const [role, grant] of [['example_admin_viewer', 'segmentation_viewer'],
    ['example_admin_editor', 'segmentation_editor']]) {
    passwords[role] = crypto.randomBytes(16).toString('hex');
    await postgres.query(`DROP ROLE IF EXISTS ${role}`);
    await postgres.query(`CREATE ROLE ${role} LOGIN PASSWORD ${postgres.escapeLiteral(passwords[role])}`);
  }
  await postgres.end();

  admin = new pg.Client({ database: DB });
  await admin.connect();
  await admin.query('SET client_min_messages = warning');
  await admin.query('CREATE EXTENSION segmentation');
  await admin.query('GRANT segmentation_viewer TO example_admin_viewer');
  await admin.query('GRANT segmentation_editor TO example_admin_editor');
  await admin.query(`CREATE TABLE customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL)`);
  await admin.query(`CREATE TABLE orders (customer_id bigint, amount numeric, ordered_at timestamptz)`);
  await admin.query(`INSERT INTO customers SELECT g, now() - interval '100 days' FROM generate_series(1, 5) g`);
  await admin.query(`SELECT segmentation.track_customers('customers', 'id', 'created_at')`);
  await admin.query(`SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at')`);

  app = createApp({
    viewer: { database: DB, user: 'example_admin_viewer', password: passwords.example_admin_viewer },
    editor: { database: DB, user: 'example_admin_editor', password: passwords.example_admin_editor },
    users,
    log: () => {},
  });
  const address = await app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${address.port}`;
});

after(async () => {
  if (app) await app.close();
  if (admin) await admin.end();
});

async function call(method, path, { token = EDITOR, body, raw } = {}) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const res = await fetch(base + path, {
    method,
    headers: { ...headers, 'content-type': 'application/json' },
    body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  return { status: res.status, body: await res.json(), cache: res.headers.get('x-cache'), headers: res.headers };
}

// Asserts an error response: its status, and the SQLSTATE it came from.
function assertError(response, status, code, message) {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(response.body.error.code, code);
  if (message) assert.match(response.body.error.message, message);
}

// The next invalidation the predicate accepts. Registered before the change
// that causes it; the bound only ends a run in which it never comes.
function nextInvalidation(predicate) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      app.cache.off('invalidate', on);
      reject(new Error('no such invalidation within 30 s'));
    }, 30000);
    function on(event) {
      if (!predicate(event)) return;
      clearTimeout(timer);
      app.cache.off('invalidate', on);
      resolve(event);
    }
    app.cache.on('invalidate', on);
  });
}

async function logRows(customerId, segmentId) {
  const { rows } = await admin.query(
    `SELECT action, is_automatic, cause, actor, reason FROM segmentation.assignment_log
      WHERE customer_id = $1 AND segment_id = $2 ORDER BY id`, [customerId, segmentId]);
  return rows;
}

test('authentication and routing', async () => {
  const noToken = await call('GET', '/api/admin/segments', { token: null });
  assert.equal(noToken.status, 401);
  assert.equal((await call('GET', '/api/admin/segments', { token: 'nobody' })).status, 401);
  assert.equal((await call('GET', '/api/admin/nothing')).status, 404);
  const put = await call('PUT', '/api/admin/segments');
  assert.equal(put.status, 405);
  assert.equal(put.headers.get('allow'), 'GET, POST');
});

test('POST /api/admin/segments creates segments, as an editor only', async () => {
  const denied = await call('POST', '/api/admin/segments', {
    token: VIEWER, body: { name: 'VIP', criteria: {}, isAutomatic: false },
  });
  assertError(denied, 403, '42501', /permission denied for function create_segment/);

  const created = await call('POST', '/api/admin/segments', {
    body: { name: 'VIP', criteria: {}, isAutomatic: false, description: 'hand-picked' },
  });
  assert.equal(created.status, 201);
  assert.equal(created.body.name, 'VIP');
  assert.equal(created.body.isAutomatic, false);
  assert.equal(created.body.description, 'hand-picked');
  vip = created.body.id;

  const automatic = await call('POST', '/api/admin/segments', {
    body: { name: 'Big', criteria: { minLifetimeValue: 100 }, isAutomatic: true },
  });
  assert.equal(automatic.status, 201);
  assert.deepEqual(automatic.body.criteria, { minLifetimeValue: 100 });
  assert.equal(automatic.body.isAutomatic, true);
  assert.equal(automatic.body.description, null);
  big = automatic.body.id;
  assert.match(big, /^\d+$/);
  assert.notEqual(big, vip);
});

test('POST /api/admin/segments maps the extension\'s errors', async () => {
  const post = (body) => call('POST', '/api/admin/segments', { body });
  assertError(await post({ name: 'VIP', criteria: {}, isAutomatic: false }), 409, '23505',
    /segment "VIP" already exists/);
  assertError(await post({ name: 'Bad', criteria: { minOrders: -1 }, isAutomatic: true }), 400, '22023',
    /criteria\.minOrders: expected a non-negative number/);
  assertError(await post({ name: 'Bad', criteria: { minorders: 1 }, isAutomatic: true }), 400, '22023',
    /did you mean "minOrders"/);
  assertError(await post({ name: 'Bad', criteria: [], isAutomatic: true }), 400, '22023', /expected an object/);
  assertError(await post({ name: 'Bad', isAutomatic: true }), 400, '22004', /criteria must not be NULL/);
  assertError(await post({ criteria: {}, isAutomatic: true }), 400, '22004', /segment name must not be NULL/);
  assertError(await post({ name: '', criteria: {}, isAutomatic: true }), 400, '22023', /must not be empty/);
  // Checked by the application: the shape of the request itself.
  assertError(await post({ name: 'Bad', criteria: {}, isAutomatic: 'yes' }), 400, undefined, /isAutomatic/);
  assertError(await call('POST', '/api/admin/segments', { raw: '{"name": ' }), 400, undefined, /not JSON/);
  assertError(await call('POST', '/api/admin/segments', { raw: '[]' }), 400, undefined, /JSON object/);
  const { rows } = await admin.query('SELECT name FROM segmentation.segments ORDER BY id');
  assert.deepEqual(rows.map((r) => r.name), ['VIP', 'Big'], 'no failed request left a segment');
});

test('GET /api/admin/segments lists segments by name, for a viewer', async () => {
  const list = await call('GET', '/api/admin/segments', { token: VIEWER });
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.map((s) => [s.id, s.name, s.isAutomatic]), [[big, 'Big', true], [vip, 'VIP', false]]);
  assert.ok(!Number.isNaN(Date.parse(list.body[0].createdAt)));
});

test('POST /api/admin/customers/:id/segments assigns a manual segment, with the actor', async () => {
  const first = await call('POST', '/api/admin/customers/1/segments', { body: { segmentId: vip } });
  assert.equal(first.status, 200);
  assert.deepEqual(first.body, { customerId: '1', segmentId: vip, assigned: true });
  const again = await call('POST', '/api/admin/customers/1/segments', { body: { segmentId: Number(vip) } });
  assert.deepEqual(again.body, { customerId: '1', segmentId: vip, assigned: false });
  assert.deepEqual(await logRows(1, vip), [
    { action: 'added', is_automatic: false, cause: 'manual', actor: 'alice@example.com', reason: null },
  ]);
  const { rows } = await admin.query('SELECT assigned_by FROM segmentation.assignments WHERE customer_id = 1');
  assert.deepEqual(rows, [{ assigned_by: 'alice@example.com' }]);
});

test('POST /api/admin/customers/:id/segments maps the extension\'s errors', async () => {
  const assign = (customer, body, token) => call('POST', `/api/admin/customers/${customer}/segments`, { body, token });
  assertError(await assign(2, { segmentId: vip }, VIEWER), 403, '42501', /permission denied/);
  assertError(await assign(999, { segmentId: vip }), 404, '42704', /customer "999" does not exist/);
  assertError(await assign(2, { segmentId: 99999 }), 404, '42704', /segment 99999 does not exist/);
  assertError(await assign(2, { segmentId: big }), 409, '55000', /is automatic/);
  assertError(await assign('abc', { segmentId: vip }), 400, '22P02', /customer id "abc" is not a valid bigint/);
  assertError(await assign('99999999999999999999', { segmentId: vip }), 400, '22003');
  assertError(await assign(2, { segmentId: 'x' }), 400, '22P02');
  assertError(await assign(2, {}), 400, undefined, /segmentId/);
  assertError(await assign(2, { segmentId: vip, recalculateAutomatic: true }), 400, undefined, /either/);
  const { rows } = await admin.query('SELECT count(*)::int AS n FROM segmentation.assignment_log');
  assert.equal(rows[0].n, 1, 'only the one assignment is logged');
});

test('POST /api/admin/customers/:id/segments recalculates automatic segments', async () => {
  // With live evaluation off, an order changes the metrics but not the
  // membership: the customer is left for a recalculation.
  await admin.query(`SELECT segmentation.set_live_evaluation('orders', false)`);
  await admin.query(`INSERT INTO orders VALUES (5, 150, now() - interval '1 day')`);
  await admin.query(`SELECT segmentation.set_live_evaluation('orders', true)`);

  assertError(await call('POST', '/api/admin/customers/5/segments', {
    token: VIEWER, body: { recalculateAutomatic: true },
  }), 403, '42501');
  const first = await call('POST', '/api/admin/customers/5/segments', { body: { recalculateAutomatic: true } });
  assert.equal(first.status, 200);
  assert.deepEqual(first.body, { customerId: '5', added: [big], removed: [] });
  const again = await call('POST', '/api/admin/customers/5/segments', { body: { recalculateAutomatic: true } });
  assert.deepEqual(again.body, { customerId: '5', added: [], removed: [] });
  assertError(await call('POST', '/api/admin/customers/998/segments', { body: { recalculateAutomatic: true } }),
    404, '42704');
});

test('DELETE /api/admin/customers/:id/segments removes a manual segment, with actor and reason', async () => {
  const path = `/api/admin/customers/1/segments?segmentId=${vip}&reason=asked%20to%20leave`;
  assertError(await call('DELETE', path, { token: VIEWER }), 403, '42501');
  const first = await call('DELETE', path);
  assert.equal(first.status, 200);
  assert.deepEqual(first.body, { customerId: '1', segmentId: vip, removed: true });
  assert.deepEqual((await call('DELETE', path)).body, { customerId: '1', segmentId: vip, removed: false });
  assert.deepEqual((await logRows(1, vip))[1],
    { action: 'removed', is_automatic: false, cause: 'manual', actor: 'alice@example.com', reason: 'asked to leave' });

  assertError(await call('DELETE', '/api/admin/customers/1/segments'), 400, undefined, /segmentId/);
  assertError(await call('DELETE', `/api/admin/customers/1/segments?segmentId=${big}`), 409, '55000');
  assertError(await call('DELETE', '/api/admin/customers/1/segments?segmentId=99999'), 404, '42704');
  assertError(await call('DELETE', `/api/admin/customers/999/segments?segmentId=${vip}`), 404, '42704');
  assertError(await call('DELETE', '/api/admin/customers/1/segments?segmentId=1.5'), 400, '22P02');
});

test('GET /api/admin/customers/:id/segments is cached, keyed by the database\'s spelling', async () => {
  const first = await call('GET', '/api/admin/customers/3/segments', { token: VIEWER });
  assert.equal(first.status, 200);
  assert.equal(first.cache, 'miss');
  assert.deepEqual(first.body, { customerId: '3', segments: [] });
  const second = await call('GET', '/api/admin/customers/3/segments', { token: VIEWER });
  assert.equal(second.cache, 'hit');
  assert.deepEqual(second.body, first.body);
  // "003" is customer 3; served fresh, and stored under "3" only.
  const spelled = await call('GET', '/api/admin/customers/003/segments', { token: VIEWER });
  assert.equal(spelled.cache, 'miss');
  assert.equal(spelled.body.customerId, '3');
  assert.equal((await call('GET', '/api/admin/customers/003/segments', { token: VIEWER })).cache, 'miss');

  assertError(await call('GET', '/api/admin/customers/999/segments', { token: VIEWER }), 404, '42704');
  assertError(await call('GET', '/api/admin/customers/abc/segments', { token: VIEWER }), 400, '22P02');
});

test('the cache learns of changes made elsewhere through LISTEN', async () => {
  // A change that is not announced (notifications off in that session) is not
  // seen: the entry is only as fresh as the notifications.
  await admin.query('SET segmentation.notify = off');
  await admin.query(`INSERT INTO orders VALUES (3, 200, now() - interval '1 day')`);
  await admin.query('RESET segmentation.notify');
  const stale = await call('GET', '/api/admin/customers/3/segments', { token: VIEWER });
  assert.equal(stale.cache, 'hit');
  assert.deepEqual(stale.body.segments, []);

  // Another service assigns VIP to customer 3: its notification drops the entry.
  const invalidated = nextInvalidation((e) => e.customerId === '3' && e.why === 'notification');
  await admin.query(`SET segmentation.actor = 'another service'`);
  await admin.query('SELECT segmentation.assign_manual_segment(3, $1)', [vip]);
  await invalidated;
  const fresh = await call('GET', '/api/admin/customers/3/segments', { token: VIEWER });
  assert.equal(fresh.cache, 'miss');
  assert.deepEqual(fresh.body.segments.map((s) => [s.segmentId, s.name, s.isAutomatic, s.assignedBy]),
    [[big, 'Big', true, null], [vip, 'VIP', false, 'another service']]);
  assert.equal((await call('GET', '/api/admin/customers/3/segments', { token: VIEWER })).cache, 'hit');
});

test('a change through the API is read back at once', async () => {
  const removed = await call('DELETE', `/api/admin/customers/3/segments?segmentId=${vip}`);
  assert.equal(removed.body.removed, true);
  const after = await call('GET', '/api/admin/customers/3/segments', { token: VIEWER });
  assert.equal(after.cache, 'miss');
  assert.deepEqual(after.body.segments.map((s) => s.name), ['Big']);
});

test('a per-segment summary drops every cached customer', async () => {
  await call('GET', '/api/admin/customers/1/segments', { token: VIEWER });
  await call('GET', '/api/admin/customers/3/segments', { token: VIEWER });
  assert.equal(app.cache.entries.size, 2);
  // Two customers change in one transaction, over a limit of one: the
  // database sends one summary for the segment instead of two notifications.
  const cleared = nextInvalidation((e) => e.all && e.why.segmentId === big);
  await admin.query('BEGIN');
  await admin.query('SET LOCAL segmentation.notify_customer_limit = 1');
  await admin.query(`INSERT INTO orders VALUES (2, 500, now() - interval '1 day'), (4, 500, now() - interval '1 day')`);
  await admin.query('COMMIT');
  await cleared;
  assert.equal(app.cache.entries.size, 0);
  const customer2 = await call('GET', '/api/admin/customers/2/segments', { token: VIEWER });
  assert.deepEqual(customer2.body.segments.map((s) => s.name), ['Big']);
  assert.equal((await call('GET', '/api/admin/customers/1/segments', { token: VIEWER })).cache, 'miss');
});

test('a lost LISTEN connection empties the cache until it listens again', async () => {
  await call('GET', '/api/admin/customers/1/segments', { token: VIEWER });
  assert.ok(app.cache.get('1'));
  const lost = nextInvalidation((e) => e.all && e.why === 'listener lost');
  const back = nextInvalidation((e) => e.all && e.why === 'listening');
  const { rows } = await admin.query(
    `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
      WHERE usename = 'example_admin_viewer' AND query = 'LISTEN segmentation_changed'`);
  assert.deepEqual(rows, [{ ok: true }]);
  await lost;
  assert.equal(app.cache.entries.size, 0);
  assert.equal(app.cache.listening, false);
  await back;
  assert.equal(app.cache.listening, true);
  // Listening again: a change is heard as before.
  assert.equal((await call('GET', '/api/admin/customers/1/segments', { token: VIEWER })).cache, 'miss');
  assert.equal((await call('GET', '/api/admin/customers/1/segments', { token: VIEWER })).cache, 'hit');
  const invalidated = nextInvalidation((e) => e.customerId === '1' && e.why === 'notification');
  await admin.query(`INSERT INTO orders VALUES (1, 100, now() - interval '1 day')`);
  await invalidated;
  const fresh = await call('GET', '/api/admin/customers/1/segments', { token: VIEWER });
  assert.deepEqual(fresh.body.segments.map((s) => s.name), ['Big']);
});

test('GET /api/admin/customers/:id/segments lists memberships: not an exclusion, an inclusion marked', async () => {
  const before = await call('GET', '/api/admin/customers/2/segments', { token: VIEWER });
  assert.deepEqual(before.body.segments.map((s) => [s.name, s.override]), [['Big', null]]);
  // Another service excludes customer 2 from Big: it leaves, and is notified.
  let invalidated = nextInvalidation((e) => e.customerId === '2' && e.why === 'notification');
  await admin.query(`SELECT segmentation.exclude_customer(2::bigint, $1, 'opted out')`, [big]);
  await invalidated;
  const { rows } = await admin.query('SELECT name, override, assigned_at FROM segmentation.customer_segments(2::bigint)');
  assert.deepEqual(rows, [{ name: 'Big', override: 'excluded', assigned_at: null }],
    'the database lists the exclusion itself');
  const excluded = await call('GET', '/api/admin/customers/2/segments', { token: VIEWER });
  assert.equal(excluded.cache, 'miss');
  assert.deepEqual(excluded.body, { customerId: '2', segments: [] }, 'the application lists memberships only');

  // An inclusion is a membership, whatever the criteria.
  const { rows: [huge] } = await admin.query(
    `SELECT segmentation.create_segment('Huge', '{"minLifetimeValue": 100000}', true) AS id`);
  invalidated = nextInvalidation((e) => e.customerId === '2' && e.why === 'notification');
  await admin.query(`SELECT segmentation.include_customer(2::bigint, $1, 'partner')`, [huge.id]);
  await invalidated;
  const included = await call('GET', '/api/admin/customers/2/segments', { token: VIEWER });
  assert.deepEqual(included.body.segments.map((s) => [s.segmentId, s.name, s.isAutomatic, s.override]),
    [[huge.id, 'Huge', true, 'included']]);
  assert.ok(!Number.isNaN(Date.parse(included.body.segments[0].assignedAt)));

  // Without the exclusion, customer 2 is in Big again.
  invalidated = nextInvalidation((e) => e.customerId === '2' && e.why === 'notification');
  await admin.query('SELECT segmentation.remove_override(2::bigint, $1)', [big]);
  await invalidated;
  const back = await call('GET', '/api/admin/customers/2/segments', { token: VIEWER });
  assert.deepEqual(back.body.segments.map((s) => [s.name, s.override]), [['Big', null], ['Huge', 'included']]);
});
