// The graphql-http server audits: conformance of /query to the GraphQL-over-HTTP specification.
// Every audit must pass: a failed MUST is an error, a failed SHOULD or MAY a warning, and both fail.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serverAudits } from 'graphql-http';

const { BASE_URL, API_KEY } = process.env;
assert.ok(BASE_URL && API_KEY, 'BASE_URL and API_KEY must be set (run e2e/run.sh)');

// The audits send plain requests; every request of theirs carries the API key.
function fetchWithKey(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${API_KEY}`);
  return fetch(input, { ...init, headers });
}

test('graphql-http server audits pass without errors or warnings', async () => {
  const audits = serverAudits({ url: `${BASE_URL}/query`, fetchFn: fetchWithKey });
  const results = [];
  for (const audit of audits) {
    results.push(await audit.fn()); // one at a time: the order of the report is the audits' order
  }
  const count = (status) => results.filter((r) => r.status === status).length;
  for (const r of results.filter((r) => r.status !== 'ok')) {
    let detail = '';
    if (r.response) {
      const body = await r.response.text().catch(() => '');
      detail = `\n    HTTP ${r.response.status} ${r.response.headers.get('content-type') ?? ''} ${body.slice(0, 300)}`;
    }
    console.log(`${r.status.toUpperCase()} ${r.id} ${r.name}: ${r.reason}${detail}`);
  }
  console.log(`graphql-http ${results.length} audits: ${count('ok')} ok, ${count('warn')} warnings, ${count('error')} errors`);
  assert.equal(count('error'), 0, 'failed MUST audits');
  assert.equal(count('warn'), 0, 'failed SHOULD/MAY audits');
  assert.equal(count('ok'), results.length);
});
