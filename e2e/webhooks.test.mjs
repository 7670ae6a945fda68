// Webhooks against the real server: a receiver (node:http on 127.0.0.1, which the server may reach
// because run.sh starts it with OUTBOUND_ALLOW_PRIVATE=true) registered with createWebhookEndpoint
// verifies every delivery with the standardwebhooks package, then the verified body of the delivery of
// a mutation is checked against the event the API shows.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { Webhook } from 'standardwebhooks';

const { BASE_URL, API_KEY } = process.env;
assert.ok(BASE_URL && API_KEY, 'BASE_URL and API_KEY must be set (run e2e/run.sh)');

async function gql(query, variables) {
  const res = await fetch(`${BASE_URL}/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

// startReceiver listens on a free 127.0.0.1 port and keeps every request, verified or not.
async function startReceiver() {
  const received = [];
  let secret;
  const waiters = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let payload;
      let error;
      try {
        payload = new Webhook(secret).verify(body, req.headers);
      } catch (err) {
        error = err;
      }
      received.push({ headers: req.headers, body, payload, error });
      res.writeHead(error ? 400 : 204).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/webhooks`,
    received,
    setSecret: (s) => { secret = s; },
    // until resolves once pred(received) holds, or rejects after ms.
    until: (pred, ms = 15000) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; received ${JSON.stringify(received)}`)), ms);
      const check = () => {
        if (pred(received)) {
          clearTimeout(timer);
          resolve();
        } else {
          waiters.push(check);
        }
      };
      check();
    }),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

test('a webhook receiver verifies the delivery of a mutation with standardwebhooks', async () => {
  const receiver = await startReceiver();
  try {
    const created = await gql(`mutation($input: CreateWebhookEndpointInput!) {
      createWebhookEndpoint(input: $input) { secret endpoint { id url eventTypes enabled } userErrors { field code message } } }`,
    { input: { url: receiver.url, eventTypes: ['organization.updated'], description: 'e2e receiver' } });
    const { secret, endpoint, userErrors } = created.createWebhookEndpoint;
    assert.deepEqual(userErrors, []);
    assert.match(secret, /^whsec_[A-Za-z0-9+/]+={0,2}$/);
    assert.deepEqual(endpoint.eventTypes, ['organization.updated']);
    receiver.setSecret(secret);

    const org = (await gql(`mutation($input: CreateOrganizationInput!) {
      createOrganization(input: $input) { organization { id } userErrors { code } } }`,
    { input: { name: 'Webhook E2E' } })).createOrganization.organization;
    await gql(`mutation($input: UpdateOrganizationInput!) {
      updateOrganization(input: $input) { organization { id } userErrors { code } } }`,
    { input: { id: org.id, name: 'Webhook E2E Renamed' } });

    await receiver.until((r) => r.length >= 1);
    const [delivery] = receiver.received;
    assert.equal(delivery.error, undefined, `verification failed: ${delivery.error}`);
    assert.equal(delivery.headers['content-type'], 'application/json');
    assert.ok(delivery.headers['webhook-id']);

    // The verified body is the update's event, as Organization.events shows it.
    const { payload } = delivery;
    assert.equal(payload.type, 'organization.updated');
    assert.ok(!Number.isNaN(Date.parse(payload.timestamp)));
    const events = (await gql(`query($id: ID!) { organization(id: $id) {
      events(types: ["organization.updated"]) { nodes { id sequence organizationId changes { field from to } } } } }`,
    { id: org.id })).organization.events.nodes;
    assert.equal(events.length, 1);
    assert.equal(payload.data.id, events[0].id);
    assert.equal(payload.data.organizationId, org.id);
    assert.equal(payload.data.sequence, events[0].sequence);
    assert.deepEqual(payload.data.changes, events[0].changes);
    assert.deepEqual(payload.data.changes.find((c) => c.field === 'name'),
      { field: 'name', from: 'Webhook E2E', to: 'Webhook E2E Renamed' });

    // The delivery is listed, succeeded at its first attempt; only the update was sent. The worker records
    // the outcome once the receiver's answer is in, a moment after the receiver saw the request.
    let listed;
    for (const deadline = Date.now() + 5000; ; await new Promise((r) => setTimeout(r, 20))) {
      listed = (await gql(`{ webhookEndpoints { nodes { id deliveries { nodes { id eventId status attempts responseStatus } } } } }`))
        .webhookEndpoints.nodes.find((e) => e.id === endpoint.id);
      if (listed.deliveries.nodes.some((d) => d.status !== 'PENDING') || Date.now() > deadline) break;
    }
    assert.deepEqual(listed.deliveries.nodes, [{ id: delivery.headers['webhook-id'], eventId: events[0].id,
      status: 'SUCCEEDED', attempts: 1, responseStatus: 204 }]);
    assert.equal(receiver.received.length, 1);

    // A body altered on the way fails verification.
    assert.throws(() => new Webhook(secret).verify(delivery.body.replace('Renamed', 'Forged'), delivery.headers));

    const deleted = await gql(`mutation($input: DeleteWebhookEndpointInput!) {
      deleteWebhookEndpoint(input: $input) { deletedWebhookEndpointId userErrors { code } } }`, { input: { id: endpoint.id } });
    assert.equal(deleted.deleteWebhookEndpoint.deletedWebhookEndpointId, endpoint.id);
  } finally {
    await receiver.close();
  }
});
