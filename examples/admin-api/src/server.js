'use strict';
// Runs the example admin API. Configuration, from the environment:
//   VIEWER_DATABASE_URL  postgresql://admin_api_viewer:...@host/db  (granted segmentation_viewer)
//   EDITOR_DATABASE_URL  postgresql://admin_api_editor:...@host/db  (granted segmentation_editor)
//   ADMIN_API_TOKENS     JSON: {"<token>": {"actor": "alice@example.com", "permission": "customers:edit"}, ...}
//   HOST, PORT           where to listen (default 127.0.0.1:3000)
const { createApp } = require('./app');

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`admin-api: ${name} is not set (see README.md)`);
    process.exit(2);
  }
  return value;
}

async function main() {
  const app = createApp({
    viewer: { connectionString: required('VIEWER_DATABASE_URL') },
    editor: { connectionString: required('EDITOR_DATABASE_URL') },
    users: new Map(Object.entries(JSON.parse(required('ADMIN_API_TOKENS')))),
  });
  const address = await app.listen(Number(process.env.PORT || 3000), process.env.HOST || '127.0.0.1');
  console.log(`admin-api: listening on http://${address.address}:${address.port}`);
  const stop = () => app.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(`admin-api: ${err.message}`);
  process.exit(1);
});
