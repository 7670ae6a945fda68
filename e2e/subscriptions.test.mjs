// Apollo Client 4 subscriptions over graphql-ws against the real server: an organization's change reaches
// the normalised cache through organizationEvents, and a subscriber whose connection dropped resumes with
// afterSequence without missing an event.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition } from '@apollo/client/utilities';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const { BASE_URL, API_KEY } = process.env;
assert.ok(BASE_URL && API_KEY, 'BASE_URL and API_KEY must be set (run e2e/run.sh)');

// newClient is the setup of the README: HTTP for queries and mutations, graphql-ws for subscriptions,
// the API key in connection_init's payload.
function newClient() {
  const ws = createClient({
    url: `${BASE_URL.replace(/^http/, 'ws')}/query`,
    webSocketImpl: WebSocket, // Node 20 has no global WebSocket; browsers need none
    connectionParams: { Authorization: `Bearer ${API_KEY}` },
    retryAttempts: 0,
  });
  const http = new HttpLink({ uri: `${BASE_URL}/query`, headers: { authorization: `Bearer ${API_KEY}` } });
  const link = ApolloLink.split(
    ({ query }) => {
      const def = getMainDefinition(query);
      return def.kind === 'OperationDefinition' && def.operation === 'subscription';
    },
    new GraphQLWsLink(ws),
    http,
  );
  return { client: new ApolloClient({ link, cache: new InMemoryCache() }), ws };
}

const CREATE = gql`
  mutation Create($input: CreateOrganizationInput!) {
    createOrganization(input: $input) { organization { id name } userErrors { field code } }
  }
`;
const UPDATE = gql`
  mutation Update($input: UpdateOrganizationInput!) {
    updateOrganization(input: $input) { organization { id } userErrors { field code } }
  }
`;
const ORGANIZATION = gql`
  query Organization($id: ID!) { organization(id: $id) { id name details { sequence } } }
`;
const EVENTS = gql`
  subscription Events($id: ID, $after: Int) {
    organizationEvents(organizationId: $id, afterSequence: $after) { id organizationId sequence type changes { field to } }
  }
`;

// events subscribes and queues what arrives; next() resolves with the next event.
function events(client, variables) {
  const queue = [];
  const waiting = [];
  const push = (item) => (waiting.length ? waiting.shift()(item) : queue.push(item));
  const sub = client.subscribe({ query: EVENTS, variables }).subscribe({
    next: (r) => push(r.error ? { error: r.error } : { event: r.data.organizationEvents }),
    error: (error) => push({ error }),
  });
  return {
    async next(ms = 10_000) {
      const item = await new Promise((resolve, reject) => {
        if (queue.length) return resolve(queue.shift());
        const timer = setTimeout(() => reject(new Error('no event within ' + ms + ' ms')), ms);
        waiting.push((v) => (clearTimeout(timer), resolve(v)));
      });
      if (item.error) throw item.error;
      return item.event;
    },
    close: () => sub.unsubscribe(),
  };
}

async function rename(client, id, name) {
  const { data } = await client.mutate({ mutation: UPDATE, variables: { input: { id, name } } });
  assert.deepEqual(data.updateOrganization.userErrors, []);
}

test('a subscription keeps the normalised cache current', async () => {
  const { client, ws } = newClient();
  try {
    const { data } = await client.mutate({ mutation: CREATE, variables: { input: { name: 'Live E2E' } } });
    assert.deepEqual(data.createOrganization.userErrors, []);
    const id = data.createOrganization.organization.id;
    const read = await client.query({ query: ORGANIZATION, variables: { id } });
    // After the sequence the screen shows: no change between the read and the subscription is missed.
    const sub = events(client, { id, after: read.data.organization.details.sequence });
    // Another client (another screen) renames the organization.
    const other = newClient();
    await rename(other.client, id, 'Renamed Live');
    other.ws.dispose();

    const event = await sub.next();
    assert.equal(event.type, 'organization.updated');
    assert.equal(event.organizationId, id);
    // The screen's handler: the event's changes go into the cached organization.
    for (const change of event.changes) {
      if (change.field === 'name') {
        client.cache.modify({
          id: client.cache.identify({ __typename: 'Organization', id }),
          fields: { name: () => change.to },
        });
      }
    }
    const cached = client.readQuery({ query: ORGANIZATION, variables: { id } });
    assert.equal(cached.organization.name, 'Renamed Live');
    sub.close();
  } finally {
    ws.dispose();
  }
});

test('a dropped subscriber resumes with afterSequence, missing nothing', async () => {
  const first = newClient();
  const { data } = await first.client.mutate({ mutation: CREATE, variables: { input: { name: 'Resume E2E' } } });
  const id = data.createOrganization.organization.id;
  const sub = events(first.client, { id, after: 1 }); // 1: organization.created
  let last = 1;
  for (const name of ['Resume 2', 'Resume 3']) {
    await rename(first.client, id, name);
    const event = await sub.next();
    assert.equal(event.sequence, last + 1);
    last = event.sequence;
  }

  // The connection drops; changes go on meanwhile.
  first.ws.terminate();
  await assert.rejects(sub.next(5_000));
  const writer = newClient();
  for (let i = 4; i <= 6; i++) await rename(writer.client, id, `Resume ${i}`);

  // A new connection resumes after the last event seen: the missed ones, then the live ones.
  const second = newClient();
  try {
    const resumed = events(second.client, { id, after: last });
    const got = [];
    for (let i = 0; i < 3; i++) got.push((await resumed.next()).sequence);
    await rename(writer.client, id, 'Resume 7');
    got.push((await resumed.next()).sequence);
    assert.deepEqual(got, [4, 5, 6, 7]);
    resumed.close();
  } finally {
    second.ws.dispose();
    writer.ws.dispose();
  }
});
