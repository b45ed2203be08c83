-- Webhook deliveries: an outbox the notifications projection fills in the same transaction
-- as its checkpoint, and senders in any fleetd process drain. It lives outside the
-- projection's schema so that rebuilding the projection never delivers an event twice.
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    tenant           text NOT NULL,
    channel_id       uuid NOT NULL,
    sequence         bigint NOT NULL,
    event_type       text NOT NULL,
    -- Asked for again by an operator (replay): delivered even if it was before.
    replay           boolean NOT NULL DEFAULT false,
    -- pending, delivered, failed (gave up), cancelled (channel deleted)
    status           text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE UNIQUE INDEX webhook_deliveries_once ON webhook_deliveries (channel_id, sequence) WHERE NOT replay;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_channel ON webhook_deliveries (channel_id, created_at DESC);

-- Signing secrets of notification channels: never in the event stream.
CREATE TABLE notification_secrets (
    channel_id uuid PRIMARY KEY,
    tenant     text NOT NULL,
    secret     text NOT NULL
);
