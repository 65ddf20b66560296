-- 0002_kv: key-value storage (docstore.KV), which party rooms use for their
-- storage: one map of key -> bytes per namespace (a party room). Keys
-- compare bytewise (COLLATE "C"), as docstore.KV lists them.

CREATE TABLE kv (
    ns      text COLLATE "C" NOT NULL CHECK (ns <> '' AND octet_length(ns) <= 512),
    key     text COLLATE "C" NOT NULL CHECK (key <> '' AND octet_length(key) <= 2048),
    value   bytea NOT NULL CHECK (octet_length(value) <= 131072),
    updated timestamptz NOT NULL,
    PRIMARY KEY (ns, key)
);

COMMENT ON TABLE kv IS 'collabd: key-value storage of party rooms (namespace = party/room)';
