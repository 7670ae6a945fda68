// Apollo Client (core, no React) against the real server: a mutation's result lands in the normalised
// cache and is read back without a request; automatic persisted queries register a query with its
// full text once, after which any client sends only its hash.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';

const { BASE_URL, API_KEY } = process.env;
assert.ok(BASE_URL && API_KEY, 'BASE_URL and API_KEY must be set (run e2e/run.sh)');

const sha256 = (text) => createHash('sha256').update(text).digest('hex');

// recordingFetch is fetch that remembers the body of every request it sends.
function recordingFetch() {
  const bodies = [];
  const fn = (input, init = {}) => {
    bodies.push(JSON.parse(init.body));
    return fetch(input, init);
  };
  return { fn, bodies };
}

function newClient({ fetch, persisted = false }) {
  const http = new HttpLink({ uri: `${BASE_URL}/query`, headers: { authorization: `Bearer ${API_KEY}` }, fetch });
  return new ApolloClient({
    link: persisted ? ApolloLink.from([new PersistedQueryLink({ sha256 }), http]) : http,
    cache: new InMemoryCache({
      typePolicies: {
        // organization(id:) is the cached Organization with that id: reads need no request.
        Query: {
          fields: {
            organization: {
              read(existing, { args, toReference }) {
                return existing ?? (args?.id ? toReference({ __typename: 'Organization', id: args.id }) : undefined);
              },
            },
          },
        },
      },
    }),
  });
}

const CREATE = gql`
  mutation CreateOrganization($input: CreateOrganizationInput!) {
    createOrganization(input: $input) {
      organization { __typename id name slug status defaultProject { id name } }
      userErrors { field code message }
    }
  }
`;

const ORGANIZATION = gql`
  query Organization($id: ID!) {
    organization(id: $id) { id name slug status defaultProject { id name } }
  }
`;

const ORGANIZATION_FIELDS = gql`
  fragment OrganizationFields on Organization { id name slug status }
`;

test('createOrganization lands in the normalised cache and reads back without a request', async () => {
  const { fn, bodies } = recordingFetch();
  const client = newClient({ fetch: fn });
  const name = `Apollo Org ${randomBytes(4).toString('hex')}`;

  const { data } = await client.mutate({ mutation: CREATE, variables: { input: { name } } });
  const { organization, userErrors } = data.createOrganization;
  assert.deepEqual(userErrors, []);
  assert.equal(organization.__typename, 'Organization');
  assert.ok(organization.id);
  assert.equal(organization.name, name);
  assert.equal(bodies.length, 1);

  // The normalised entry, by its cache id.
  const cacheId = client.cache.identify(organization);
  assert.equal(cacheId, `Organization:${organization.id}`);
  const fragment = client.cache.readFragment({ id: cacheId, fragment: ORGANIZATION_FIELDS });
  assert.deepEqual(
    { id: fragment.id, name: fragment.name, slug: fragment.slug, status: fragment.status },
    { id: organization.id, name, slug: organization.slug, status: organization.status },
  );

  // A query for it is answered from the cache, nested default project included.
  const cached = client.readQuery({ query: ORGANIZATION, variables: { id: organization.id } });
  assert.equal(cached.organization.name, name);
  assert.equal(cached.organization.defaultProject.id, organization.defaultProject.id);
  const fromCache = await client.query({ query: ORGANIZATION, variables: { id: organization.id }, fetchPolicy: 'cache-first' });
  assert.equal(fromCache.data.organization.slug, organization.slug);
  assert.equal(bodies.length, 1, 'the cached read sent a request');

  // The server agrees with the cache.
  const fresh = await client.query({ query: ORGANIZATION, variables: { id: organization.id }, fetchPolicy: 'network-only' });
  assert.equal(bodies.length, 2);
  assert.deepEqual(fresh.data.organization, cached.organization);
});

test('automatic persisted queries: unknown hash, retry with the text, then the hash alone', async () => {
  // An operation the server has never seen: its name is new on every run.
  const op = `ViewerTenant_${randomBytes(4).toString('hex')}`;
  const query = gql(`query ${op} { viewer { tenant { id name } permissions } }`);

  const first = recordingFetch();
  const a = newClient({ fetch: first.fn, persisted: true });
  const resultA = await a.query({ query, fetchPolicy: 'network-only' });
  assert.ok(resultA.data.viewer.tenant.id);
  assert.equal(first.bodies.length, 2, 'expected the hash alone, then the retry with the text');
  const [hashOnly, retry] = first.bodies;
  const hash = hashOnly.extensions?.persistedQuery?.sha256Hash;
  assert.match(hash ?? '', /^[0-9a-f]{64}$/);
  assert.equal(hashOnly.query, undefined, 'the first request carried the query text');
  assert.equal(retry.extensions.persistedQuery.sha256Hash, hash);
  assert.equal(sha256(retry.query), hash);
  assert.match(retry.query, new RegExp(`query ${op}`));

  // Another client (another cache, another link) sends only the hash, and the server knows it.
  const second = recordingFetch();
  const b = newClient({ fetch: second.fn, persisted: true });
  const resultB = await b.query({ query, fetchPolicy: 'network-only' });
  assert.equal(second.bodies.length, 1);
  assert.equal(second.bodies[0].query, undefined, 'the second client sent the query text');
  assert.equal(second.bodies[0].extensions.persistedQuery.sha256Hash, hash);
  assert.deepEqual(resultB.data, resultA.data);
});
