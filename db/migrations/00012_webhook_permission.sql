-- +goose Up
-- WEBHOOK_MANAGE: the permission of the webhook endpoints' mutations and reads.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_permissions_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_permissions_check CHECK (permissions <@ ARRAY['ORGANIZATION_CREATE',
    'ORGANIZATION_READ', 'ORGANIZATION_UPDATE', 'ORGANIZATION_DELETE', 'TEMPLATE_MANAGE', 'APIKEY_MANAGE',
    'WEBHOOK_MANAGE']::text[]);

-- +goose Down
UPDATE api_keys SET permissions = array_remove(permissions, 'WEBHOOK_MANAGE');
ALTER TABLE api_keys DROP CONSTRAINT api_keys_permissions_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_permissions_check CHECK (permissions <@ ARRAY['ORGANIZATION_CREATE',
    'ORGANIZATION_READ', 'ORGANIZATION_UPDATE', 'ORGANIZATION_DELETE', 'TEMPLATE_MANAGE', 'APIKEY_MANAGE']::text[]);
