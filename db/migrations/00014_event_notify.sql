-- +goose Up
-- Every audit event is announced on the channel orgs_events as "<tenant id> <organization id> <sequence>",
-- whatever statement inserted it (a change, the one-statement create, a demotion, a purge...). NOTIFY
-- is transactional: the announcement leaves on commit, and never for a transaction rolled back. The
-- listeners of every replica then read the event itself from the log (package realtime).
-- +goose StatementBegin
CREATE FUNCTION notify_audit_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('orgs_events', NEW.tenant_id::text || ' ' || NEW.organization_id::text || ' ' || NEW.sequence::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_notify AFTER INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION notify_audit_event();

-- +goose Down
DROP TRIGGER audit_events_notify ON audit_events;
DROP FUNCTION notify_audit_event();
