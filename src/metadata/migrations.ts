import type { Database } from 'better-sqlite3';

/**
 * One schema step. Versions are 1, 2, 3, … in order; a released migration is never edited, only
 * followed by a new one, because databases in the field have already applied it.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * The SQLite schema, oldest first. Tables are STRICT so a wrong type (a fractional size, a
 * number where a digest belongs) fails the statement instead of being stored silently.
 * Text columns use SQLite's default BINARY collation, so ORDER BY and `>` are byte order, which
 * is the lexical order the distribution spec asks for in tag and catalog pagination.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE repositories (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE repository_blobs (
        repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (repository_id, digest)
      ) STRICT, WITHOUT ROWID;
      -- Cross-repository mounts without 'from' look a digest up in every repository.
      CREATE INDEX repository_blobs_by_digest ON repository_blobs (digest);

      CREATE TABLE manifests (
        repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        media_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        artifact_type TEXT,
        subject TEXT,
        annotations TEXT,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (repository_id, digest)
      ) STRICT;
      -- Referrers API; most manifests have no subject, so the index only holds those that do.
      CREATE INDEX manifests_by_subject ON manifests (repository_id, subject) WHERE subject IS NOT NULL;

      CREATE TABLE manifest_blobs (
        repository_id INTEGER NOT NULL,
        manifest_digest TEXT NOT NULL,
        blob_digest TEXT NOT NULL,
        PRIMARY KEY (repository_id, manifest_digest, blob_digest),
        FOREIGN KEY (repository_id, manifest_digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
      ) STRICT, WITHOUT ROWID;
      -- Garbage collection asks whether any manifest still references a blob.
      CREATE INDEX manifest_blobs_by_blob ON manifest_blobs (blob_digest);

      -- No foreign key on child_digest: deleting a manifest that an index references is allowed
      -- (as in distribution), which leaves the index pointing at a missing child.
      CREATE TABLE manifest_children (
        repository_id INTEGER NOT NULL,
        parent_digest TEXT NOT NULL,
        child_digest TEXT NOT NULL,
        PRIMARY KEY (repository_id, parent_digest, child_digest),
        FOREIGN KEY (repository_id, parent_digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX manifest_children_by_child ON manifest_children (repository_id, child_digest);

      -- A tag cannot outlive its manifest: the foreign key deletes it with the manifest.
      CREATE TABLE tags (
        repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        digest TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (repository_id, name),
        FOREIGN KEY (repository_id, digest) REFERENCES manifests (repository_id, digest) ON DELETE CASCADE
      ) STRICT, WITHOUT ROWID;
      -- Without it every manifest delete would scan the repository's tags for the cascade.
      CREATE INDEX tags_by_digest ON tags (repository_id, digest);

      -- AUTOINCREMENT so a sequence number is never reused, even after old rows are pruned:
      -- children hold cursors into this log.
      CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        repository TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('manifest', 'tag', 'tag-delete', 'manifest-delete', 'repository-delete')),
        tag TEXT,
        digest TEXT,
        media_type TEXT,
        at INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'identity: tokens and scope maps',
    sql: `
      -- actions: a JSON array of lower-cased action strings (validated by auth/ before they get here).
      CREATE TABLE scope_maps (
        name TEXT NOT NULL PRIMARY KEY,
        description TEXT NOT NULL DEFAULT '',
        actions TEXT NOT NULL,
        type TEXT NOT NULL CHECK (type IN ('UserDefined', 'SystemDefined')),
        created_at INTEGER NOT NULL
      ) STRICT;

      -- Passwords are scrypt hashes only; a slot is empty when its hash is NULL.
      -- A scope map in use cannot be deleted (RESTRICT), so a token never points at nothing.
      CREATE TABLE tokens (
        name TEXT NOT NULL PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
        scope_map TEXT REFERENCES scope_maps (name) ON DELETE RESTRICT,
        created_at INTEGER NOT NULL,
        password1_hash TEXT,
        password1_created_at INTEGER,
        password1_expiry INTEGER,
        password2_hash TEXT,
        password2_created_at INTEGER,
        password2_expiry INTEGER
      ) STRICT;
      CREATE INDEX tokens_by_scope_map ON tokens (scope_map);

      INSERT INTO scope_maps (name, description, actions, type, created_at) VALUES
        ('_repositories_admin', 'Can perform all read, write and delete operations on the registry',
          '["repositories/*/content/read","repositories/*/content/write","repositories/*/content/delete","repositories/*/metadata/read","repositories/*/metadata/write"]',
          'SystemDefined', CAST(unixepoch('subsec') * 1000 AS INTEGER)),
        ('_repositories_pull', 'Can pull any repository of the registry',
          '["repositories/*/content/read","repositories/*/metadata/read"]',
          'SystemDefined', CAST(unixepoch('subsec') * 1000 AS INTEGER)),
        ('_repositories_push', 'Can push to any repository of the registry',
          '["repositories/*/content/read","repositories/*/metadata/read","repositories/*/content/write","repositories/*/metadata/write"]',
          'SystemDefined', CAST(unixepoch('subsec') * 1000 AS INTEGER));
    `,
  },
  {
    version: 3,
    name: 'connected registries',
    sql: `
      -- One row per connected registry of the whole hierarchy, so a name is unique in it.
      -- client_token_ids, notifications, login_server and status_details are JSON text.
      -- A parent cannot be deleted while it has children (RESTRICT).
      CREATE TABLE connected_registries (
        name TEXT NOT NULL PRIMARY KEY,
        mode TEXT NOT NULL CHECK (mode IN ('ReadOnly', 'ReadWrite')),
        parent TEXT REFERENCES connected_registries (name) ON DELETE RESTRICT,
        sync_token TEXT NOT NULL,
        schedule TEXT NOT NULL,
        sync_window TEXT,
        message_ttl TEXT NOT NULL,
        last_sync_time INTEGER,
        client_token_ids TEXT NOT NULL DEFAULT '[]',
        log_level TEXT NOT NULL,
        audit_log_status TEXT NOT NULL,
        notifications TEXT NOT NULL DEFAULT '[]',
        gc_enabled INTEGER NOT NULL DEFAULT 0,
        gc_schedule TEXT NOT NULL,
        activation_status TEXT NOT NULL,
        connection_state TEXT NOT NULL,
        last_activity_time INTEGER,
        version TEXT,
        login_server TEXT,
        status_details TEXT NOT NULL DEFAULT '[]',
        created_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX connected_registries_by_parent ON connected_registries (parent);
    `,
  },
  {
    version: 4,
    name: 'sync: change origin, activation, sync state',
    sql: `
      -- 'local': written by a client of this node (a ReadWrite edge pushes these up: the outbox);
      -- 'sync': applied from the parent by the sync agent (never pushed back).
      ALTER TABLE changes ADD COLUMN origin TEXT NOT NULL DEFAULT 'local' CHECK (origin IN ('local', 'sync'));
      CREATE INDEX changes_by_origin ON changes (origin, seq);
      CREATE INDEX changes_by_time ON changes (at);

      -- The running instance that holds the activation; deactivate clears it and bumps the epoch,
      -- which flows down the hierarchy in the config so the edge serving the child frees it too.
      ALTER TABLE connected_registries ADD COLUMN instance_id TEXT;
      ALTER TABLE connected_registries ADD COLUMN activation_epoch INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE connected_registries ADD COLUMN resync_requested_at INTEGER;
      -- Per repository sync progress as the parent saw it at the last heartbeat (JSON array).
      ALTER TABLE connected_registries ADD COLUMN repositories_status TEXT NOT NULL DEFAULT '[]';

      -- The child side of sync: the parent cursor, the outbox mark, the instance id, config version.
      CREATE TABLE sync_state (
        key TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 5,
    name: 'connected registries: outbox backlog',
    sql: `
      -- Local writes a ReadWrite edge still has to push up, as its last heartbeat said (NULL: never reported).
      ALTER TABLE connected_registries ADD COLUMN outbox_pending INTEGER;
    `,
  },
  {
    version: 6,
    name: 'sync: blob-delete changes, parked items, echoes of pushed writes, outbox failures',
    sql: `
      -- SQLite cannot change a CHECK constraint, so the change log is rebuilt with the new kind:
      -- every row is kept with its seq, and so is the AUTOINCREMENT high-water mark (children hold
      -- cursors into this log; a rename carries the sqlite_sequence row along).
      CREATE TABLE changes_v6 (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        repository TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('manifest', 'tag', 'tag-delete', 'manifest-delete', 'repository-delete', 'blob-delete')),
        tag TEXT,
        digest TEXT,
        media_type TEXT,
        at INTEGER NOT NULL,
        origin TEXT NOT NULL DEFAULT 'local' CHECK (origin IN ('local', 'sync'))
      ) STRICT;
      INSERT INTO changes_v6 (seq, repository, kind, tag, digest, media_type, at, origin)
        SELECT seq, repository, kind, tag, digest, media_type, at, origin FROM changes;
      DELETE FROM sqlite_sequence WHERE name = 'changes_v6';
      INSERT INTO sqlite_sequence (name, seq) SELECT 'changes_v6', seq FROM sqlite_sequence WHERE name = 'changes';
      DROP TABLE changes;
      ALTER TABLE changes_v6 RENAME TO changes;
      CREATE INDEX changes_by_origin ON changes (origin, seq);
      CREATE INDEX changes_by_time ON changes (at);

      -- Pull side: manifests from the parent this node could not complete (a blob the parent cannot
      -- serve, content this registry refuses), parked so they do not block the rest of the log and
      -- retried with backoff. tag: the tag the parent's message moved onto it (NULL: none, or a
      -- later message moved that tag since). parent_seq: NULL when a reconcile found it.
      CREATE TABLE sync_parked (
        repository TEXT NOT NULL,
        digest TEXT NOT NULL,
        tag TEXT,
        parent_seq INTEGER,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        first_failed_at INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        PRIMARY KEY (repository, digest)
      ) STRICT, WITHOUT ROWID;

      -- Push side: local writes pushed up whose echo (the parent's change row for them) has not
      -- come back in the parent's messages yet. Until it does, no parent message overrides what
      -- they touch. push_order: the order of the pushes (a parked write goes up late);
      -- parent_head: a parent sequence number known to be at or after the push (NULL until known).
      CREATE TABLE sync_echoes (
        local_seq INTEGER NOT NULL PRIMARY KEY,
        push_order INTEGER NOT NULL,
        parent_head INTEGER
      ) STRICT;

      -- Push side: local writes that failed here ('parked': retried with backoff, still waiting
      -- to go up) or that the parent refused for good ('rejected': kept to report). The change is
      -- copied (its row may be pruned once the mark has passed it).
      CREATE TABLE sync_outbox_failures (
        local_seq INTEGER NOT NULL PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('parked', 'rejected')),
        repository TEXT NOT NULL,
        kind TEXT NOT NULL,
        tag TEXT,
        digest TEXT,
        media_type TEXT,
        changed_at INTEGER NOT NULL,
        code TEXT NOT NULL,
        message TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        failed_at INTEGER NOT NULL,
        next_attempt_at INTEGER
      ) STRICT;
    `,
  },
  {
    version: 7,
    name: 'lifecycle: registry settings, when a manifest lost its last tag, storage reported by edges',
    sql: `
      -- Registry-wide settings, one row each (the retention policy: name 'retention', a JSON value).
      CREATE TABLE registry_settings (
        name TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;

      -- When a tag last left the manifest (deleted, or moved to another manifest); NULL: never.
      -- Retention counts an untagged manifest's age from this, or from its push when later.
      ALTER TABLE manifests ADD COLUMN untagged_at INTEGER;
      -- Manifests already untagged when this runs count from now: how long they have been
      -- untagged is not known, and retention must not take them at once.
      UPDATE manifests SET untagged_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
        WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = manifests.repository_id AND t.digest = manifests.digest);

      -- The storage an edge reported in its last heartbeat (JSON: bytes stored, filesystem size,
      -- free and available, when measured); NULL before it reports one.
      ALTER TABLE connected_registries ADD COLUMN storage_usage TEXT;
    `,
  },
  {
    version: 8,
    name: 'notifications: events, relay mark, webhooks, deliveries and their attempts',
    sql: `
      -- Push and delete events (docs/observability.md, "Webhooks and notifications"): recorded
      -- from this node's own clients' writes, or received from a child, in order of arrival.
      -- id is the event's identity at every hop (a batch sent again is stored once).
      -- request: JSON {id, host, method, useragent}; connected_registry: where the write was made
      -- (NULL: the root); received_from: the direct child that sent it (NULL: recorded here).
      CREATE TABLE notification_events (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        timestamp INTEGER NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('push', 'delete')),
        repository TEXT NOT NULL,
        tag TEXT,
        digest TEXT,
        media_type TEXT,
        size INTEGER,
        request TEXT,
        connected_registry TEXT,
        received_from TEXT,
        recorded_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX notification_events_by_time ON notification_events (recorded_at);

      -- Small named numbers of notifications: 'relay-mark' (the last position the parent acknowledged).
      CREATE TABLE notification_state (
        key TEXT NOT NULL PRIMARY KEY,
        value INTEGER NOT NULL
      ) STRICT;

      -- Webhooks (the root's): actions is a JSON array, custom_headers a JSON object.
      CREATE TABLE webhooks (
        name TEXT NOT NULL PRIMARY KEY,
        service_uri TEXT NOT NULL,
        actions TEXT NOT NULL,
        scope TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('enabled', 'disabled')),
        custom_headers TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;

      -- The durable queue: one delivery per webhook and event (UNIQUE: queued once), with the
      -- exact body every attempt sends. Gone with its webhook.
      CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        webhook TEXT NOT NULL REFERENCES webhooks (name) ON DELETE CASCADE,
        event_id TEXT NOT NULL,
        action TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (webhook, event_id)
      ) STRICT;
      -- The oldest pending delivery of each webhook (deliveries go out in order per webhook).
      CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook, id) WHERE state = 'pending';
      CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (created_at);

      -- Every attempt: request and response (JSON; header values that may be secrets masked).
      CREATE TABLE webhook_attempts (
        delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        request TEXT NOT NULL,
        response TEXT,
        error TEXT,
        PRIMARY KEY (delivery_id, attempt)
      ) STRICT, WITHOUT ROWID;
    `,
  },
  {
    version: 9,
    name: 'garbage collection: link refresh times, the digest index of manifests, gc requests and reports',
    sql: `
      -- When a link was created or last used (a HEAD, a mount, linked again): the grace period of
      -- garbage collection runs from it, so a client that found a blob keeps it while it pushes.
      ALTER TABLE repository_blobs ADD COLUMN refreshed_at INTEGER NOT NULL DEFAULT 0;
      UPDATE repository_blobs SET refreshed_at = created_at;

      -- The sweep asks whether any repository holds a manifest by its digest alone.
      CREATE INDEX manifests_by_digest ON manifests (digest);

      -- A manual collection asked of an edge ('outpost connected-registry gc'), carried down like a resync.
      ALTER TABLE connected_registries ADD COLUMN gc_requested_at INTEGER;
      ALTER TABLE connected_registries ADD COLUMN gc_request_dry_run INTEGER NOT NULL DEFAULT 0;
      -- The report of the edge's last collection as its heartbeat said (JSON; NULL: none reported).
      ALTER TABLE connected_registries ADD COLUMN gc_last_report TEXT;
    `,
  },
  {
    version: 10,
    name: 'notifications from the change log: who made each change, its request, its write',
    sql: `
      -- Notification events are made from the change log (docs/architecture.md, "How events
      -- travel up"), which commits with the write: a crash between a write and its event loses
      -- nothing. actor: the identity of a local write; request: JSON {id, host, method,
      -- useragent} of the HTTP request it came in; write_id: the seq of the first row of the
      -- same write (NULL on that first row itself), so one write is one notification.
      ALTER TABLE changes ADD COLUMN actor TEXT;
      ALTER TABLE changes ADD COLUMN request TEXT;
      ALTER TABLE changes ADD COLUMN write_id INTEGER;
      -- 'notified-seq': the last change the notifications have been made from. Changes before
      -- this version were notified the old way: start after them.
      INSERT INTO notification_state (key, value)
        SELECT 'notified-seq', COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)
        WHERE true ON CONFLICT (key) DO NOTHING;
    `,
  },
];

/**
 * Brings the database up to the newest migration, recording the version in `PRAGMA user_version`.
 * All pending migrations run in one IMMEDIATE transaction, so a crash or a failing step leaves the
 * previous version intact, and two processes opening the same file at once cannot both apply them
 * (the second waits on the write lock, then sees the new version and does nothing).
 * Throws when the file was written by a newer Outpost (a version this code does not know).
 * Returns the version the database is at afterwards.
 */
export function runMigrations(db: Database, migrations: readonly Migration[] = MIGRATIONS): number {
  const latest = migrations.reduce((max, m) => Math.max(max, m.version), 0);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.name} has version ${m.version}, expected ${i + 1}`);
  });
  const apply = db.transaction((): number => {
    const current = db.pragma('user_version', { simple: true });
    if (typeof current !== 'number') throw new Error('PRAGMA user_version did not return a number');
    if (current > latest) {
      throw new Error(`metadata database is at schema version ${current}, newer than this Outpost knows (${latest})`);
    }
    for (const migration of migrations) {
      if (migration.version <= current) continue;
      db.exec(migration.sql);
    }
    // PRAGMA does not take bound parameters; the value is an integer we computed.
    if (latest > current) db.pragma(`user_version = ${latest}`);
    return latest;
  });
  return apply.immediate();
}
