-- 0001_init: collabd's document store (docstore/postgres).
--
-- Every document has a row in documents (its counters, so that operators can
-- see what is stored with plain SQL), an append-only update log in updates
-- and its history of snapshots in versions. Names compare bytewise
-- (COLLATE "C"), as docstore.Store orders them.

CREATE TABLE documents (
    name          text COLLATE "C" PRIMARY KEY
                  CHECK (name <> '' AND octet_length(name) <= 512),
    created       timestamptz NOT NULL,
    updated       timestamptz NOT NULL,
    -- seq of the newest update ever appended (0: none); the next Append
    -- continues from it, under this row's lock.
    last_seq      bigint  NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    -- the base (newest) version, 0 if never compacted, and the seq its
    -- snapshot covers.
    base_version  bigint  NOT NULL DEFAULT 0 CHECK (base_version >= 0),
    base_through  bigint  NOT NULL DEFAULT 0 CHECK (base_through >= 0 AND base_through <= last_seq),
    snapshot_size bigint  NOT NULL DEFAULT 0 CHECK (snapshot_size >= 0),
    -- highest version ID ever given out (IDs are never reused) and the
    -- number of versions kept.
    last_version  bigint  NOT NULL DEFAULT 0 CHECK (last_version >= base_version),
    versions      integer NOT NULL DEFAULT 0 CHECK (versions >= 0),
    -- the updates after the base snapshot: how many, how many bytes.
    log_entries   bigint  NOT NULL DEFAULT 0 CHECK (log_entries >= 0),
    log_bytes     bigint  NOT NULL DEFAULT 0 CHECK (log_bytes >= 0)
);

COMMENT ON TABLE documents IS 'collabd: one row per document (room), with counters of what updates and versions hold';

-- No foreign key on doc: its check, once per inserted row, would double the
-- cost of a group commit of many updates. The store writes an update only
-- in the statement that creates or locks its documents row, and the
-- trigger below deletes a document's updates with it.
CREATE TABLE updates (
    doc     text COLLATE "C" NOT NULL,
    seq     bigint NOT NULL CHECK (seq > 0),
    created timestamptz NOT NULL,
    bytes   bytea NOT NULL CHECK (octet_length(bytes) > 0),
    PRIMARY KEY (doc, seq)
);

COMMENT ON TABLE updates IS 'collabd: update log (Yjs v1 updates) after each document''s base snapshot';

CREATE TABLE versions (
    doc      text COLLATE "C" NOT NULL REFERENCES documents (name) ON DELETE CASCADE,
    id       bigint NOT NULL CHECK (id > 0),
    created  timestamptz NOT NULL,
    trigger  text NOT NULL CHECK (trigger ~ '^[a-z0-9_-]{1,32}$'),
    through  bigint NOT NULL CHECK (through >= 0),
    size     bigint NOT NULL CHECK (size > 0),
    snapshot bytea NOT NULL CHECK (octet_length(snapshot) = size),
    PRIMARY KEY (doc, id)
);

COMMENT ON TABLE versions IS 'collabd: version history; each row is a compacted snapshot, the newest is the document''s base';

-- Deleting documents rows (an operator removing documents with plain SQL)
-- deletes their updates too, as ON DELETE CASCADE does for versions.
CREATE FUNCTION collabd_delete_updates() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
BEGIN
    DELETE FROM updates u USING deleted d WHERE u.doc = d.name;
    RETURN NULL;
END
$$;

CREATE TRIGGER documents_delete_updates
AFTER DELETE ON documents
REFERENCING OLD TABLE AS deleted
FOR EACH STATEMENT EXECUTE FUNCTION collabd_delete_updates();
